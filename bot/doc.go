// Package bot is clonebot's Slack front end: it turns slash commands (one table of command
// specs, bot/command, and their runners, commands.go), button clicks, modal submissions and App
// Home events (delivered by bot/transport) into handlers calls, and renders what they answer
// (bot/render). It also holds the Slack side of the engine: the Notifier, which sends the
// notices the use cases and the lifecycle record with their changes (request cards edited in
// place, the thread's timeline, one progress line per request, ready messages, TTL warnings,
// security alerts, DMs, App Homes), and the Directory (user groups cached with refresh, users,
// channels).
//
// Only this package turns errors into words for Slack: a refusal (*handlers.Error, or a
// malformed command) is answered with what to type instead; a failure is logged with a
// reference id, and the person sees the reference, never the error.
//
// app.New wires it: the use cases (handlers.Service), then the Notifier on the request store's
// mailbox with the use cases' App Home, then the Bot, which is the transport.Dispatcher.
package bot
