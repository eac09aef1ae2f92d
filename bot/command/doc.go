// Package command parses the text of a /clone slash command into a Command value. It is pure:
// no I/O, and time enters only as the now that relative dates ("yesterday") are resolved against.
// A Command formats back to text that parses to the same Command.
package command
