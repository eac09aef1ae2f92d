// Package pgdump reads PostgreSQL backups natively: pg_dump custom-format archives (-Fc)
// and plain SQL scripts (-Fp, optionally gzip-compressed).
//
// It owns the parsing only: the header and table of contents of a custom archive, random
// access to each table's COPY data (decompressed, so several goroutines can stream
// different tables at once), and a streaming splitter for SQL scripts that yields
// statements and COPY blocks with the section (pre-data, data, post-data) each belongs to.
// Running the SQL, masking rows and loading them belong to the restore agent.
//
// Damaged input never panics: every parse error of a truncated or corrupt backup wraps
// ErrCorrupt and names what was being read and where; formats and versions this package
// cannot read wrap ErrUnsupported.
package pgdump
