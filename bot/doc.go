// Package bot is clonebot's Slack front end: it turns slash commands, button clicks, modal
// submissions and App Home events (delivered by bot/transport) into handlers calls, and
// renders what they answer (bot/render). It also holds the Slack side of the handlers'
// ports: the Notifier (request cards edited in place, thread timeline, one throttled progress
// line per request, ready messages, TTL warnings, security alerts, DMs, App Home) and the
// Directory (user groups cached with refresh, users, channels).
//
// Only this package turns errors into words for Slack: a failure is logged with a reference
// id, and the person sees the reference, never the error.
//
// Wiring (cmd/clonebot): the Notifier is built first because the lifecycle reports through it,
// and New connects it to the use cases for the App Home:
//
//	api := slackCfg.WebClient() // transport.Config: bot token and CLONEBOT_SLACK_API_URL
//	notifier := bot.NewNotifier(api, policy, botCfg, log, bot.SystemClock{})
//	lc := lifecycle.New(..., notifier) // any handlers.Lifecycle reporting to a handlers.Notifier
//	b, err := bot.New(bot.Deps{Config: botCfg, Slack: api, Store: store, Policy: policy,
//		Catalogue: catalogue, Lifecycle: lc, Notifier: notifier, Logger: log, Clock: bot.SystemClock{}})
//	// b is the transport.Dispatcher of transport.NewHTTPHandler or transport.NewSocket.
package bot
