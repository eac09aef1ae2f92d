// Package slackfake is an offline Slack for tests and the demo: an httptest server that
// speaks the Web API methods clonebot uses (chat.postMessage, chat.update,
// chat.postEphemeral, views.open, views.publish, usergroups.list, usergroups.users.list,
// users.info, conversations.info, auth.test, apps.connections.open), the response_url
// endpoints it hands out in slash commands and interactions, and a Socket Mode websocket
// that delivers envelopes and records acks.
//
// Every call is recorded (method, parameters, the token used) so tests can assert on what
// the bot sent; faults (429 with Retry-After, 500) can be injected per method. Builders make
// realistic slash-command, interaction and Events API bodies for the HTTP transport and the
// bench. As Slack does, views.open spends the trigger_id of the interaction that carried it:
// once, within three seconds by the fake's clock (WithClock), and never one it did not hand
// out (expired_trigger_id, exchanged_trigger_id, invalid_trigger_id). Nothing in it sleeps: waiting helpers block on channels until the recorded state
// satisfies them or the context ends.
package slackfake
