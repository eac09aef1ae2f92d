// Package demo runs clonebot's whole flow on one machine with no configuration, for
// `clonebot demo`: a Redis (the one CLONEBOT_REDIS_URL names, else an embedded one), a
// PostgreSQL server (the one CLONEBOT_DEMO_POSTGRES_URL names, else a throwaway server from
// the system binaries), a generated sample "prod" database and its pg_dump backup, the
// offline Slack of bot/slackfake, and the real approvals store, bot, lifecycle, local
// provisioner and restore agent wired as cmd/clonebot wires them.
//
// Time is a clock the demo owns: the lifecycle, the bot, the store and the catalogue read
// it, and the demo moves it forward to reach the TTL warnings and the expiry at once. Only
// the restore takes real time: the agent keeps the real clock, so its progress shows real
// rates, and the demo clock moves on by the time each restore really took. The demo drives the lifecycle with Tick and the agent with RunOnce, so every step
// happens in the order printed.
//
// Run prints what the workspace's people see in Slack (cards in each of their states, thread
// replies, modals, DMs, alerts and ephemeral answers) as they would read it, through one story:
// the scheduled golden copy built, a staging clone approved and queried with its own
// credentials, a dev clone made as a thin copy of the golden copy, a debug clone needing two
// distinct approvers, a denial, a break-glass clone with its security alert and review, the
// staging clone's warnings, extension, expiry and proof it is gone, and the audit log, moved
// into the hash chain on the demo's PostgreSQL and verified. It never prints a password.
package demo
