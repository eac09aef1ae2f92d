// Package command reads what people type after /clone, and what they fill into the request
// form, into a Command value. One table (spec.go) describes every command: its name, its usage
// line, its arguments and options; the parser, the formatter, help and the usage under a parse
// error all come from it, and what each command does is the bot's part, keyed by the same Kind.
// It is pure: no I/O, and time enters only as the now that relative dates ("yesterday") are
// resolved against. A typed Command formats back to text that parses to the same Command.
package command
