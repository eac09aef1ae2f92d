// Package pgdump reads PostgreSQL backups natively: pg_dump custom-format archives (-Fc)
// and plain SQL scripts (-Fp, optionally gzip-compressed).
//
// It owns the parsing only. For a custom archive, OpenCustom reads the header and table of
// contents; Archive.Data streams one table's COPY text, decompressed, and may be called from
// several goroutines at once, which is how the restore agent loads tables in parallel.
// For a script, OpenScript (or NewScriptReader) yields statements, psql meta-commands and
// COPY blocks with their rows, in file order, each with the section (pre-data, data,
// post-data) it belongs to. Detect tells the formats apart from the first bytes. Running the
// SQL, masking rows and loading them belong to the restore agent.
//
// Damaged input never panics or hangs: every parse error of a truncated or corrupt backup
// wraps ErrCorrupt and says what was being read and where (archive offset or script line);
// formats, archive versions and features this package cannot read wrap ErrUnsupported.
// Archives must be versions 1.12 to 1.16 (pg_dump 9.0 to 17), uncompressed or gzip;
// large objects are listed but their data cannot be read (Archive.CheckSupported says so).
package pgdump
