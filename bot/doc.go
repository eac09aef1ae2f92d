// Package bot is clonebot's Slack front end: it turns slash commands, button clicks, modal
// submissions and App Home events (delivered by bot/transport) into handlers calls, and
// renders what they answer (bot/render). It also holds the Slack side of the handlers'
// ports: the Notifier (request cards edited in place, thread timeline, one throttled progress
// line per request, ready messages, TTL warnings, security alerts, DMs, App Home) and the
// Directory (user groups cached with refresh, users, channels).
//
// Only this package turns errors into words for Slack: a failure is logged with a reference
// id, and the person sees the reference, never the error.
package bot
