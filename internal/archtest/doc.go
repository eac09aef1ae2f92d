// Package archtest holds no code: its test keeps the shape of the codebase (STYLE.md) from
// drifting, by checking every package's imports against the layers and the rules on outside
// libraries.
package archtest
