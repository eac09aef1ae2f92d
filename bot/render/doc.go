// Package render turns clonebot's state into Slack Block Kit: the request card, thread notes,
// the progress line, the ready message, TTL warnings, security alerts, ephemeral replies, the
// App Home tab and the two modals. Everything is rendered from values (a stored Request, a
// handlers.Reply), never patched, and every piece of user text is escaped so that a reason
// cannot mention @channel, a user or carry a link.
package render
