// Package handlers holds clonebot's use cases: request a clone, explain, list backups, list,
// status, extend, destroy, cancel, break-glass, vote, report, the kill switch and the App Home
// view. Each takes who is acting and what they asked, applies the policy, changes the store
// through its atomic operations (which record, with each change, what people must be told:
// approvals.Notice), and returns a Reply for the person who asked.
//
// A refusal (bad input, a policy rule, a click that is too late) is an *Error with a code and
// a sentence that says what to do instead; any other error means something broke, and the
// caller (bot) logs it and shows a reference. Handlers know nothing of Slack: they declare the
// small interfaces they need (Store, Directory, Catalogue, Lifecycle, and the optional Reports
// and Masking) and the adapters satisfy them.
package handlers
