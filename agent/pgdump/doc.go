// Package pgdump reads PostgreSQL backups natively: pg_dump custom-format archives (-Fc)
// and plain SQL scripts (-Fp, optionally gzip-compressed).
//
// It owns the parsing only. For a custom archive, OpenCustom reads the header and table of
// contents; Archive.Data streams one table's COPY text, decompressed, and may be called from
// several goroutines at once, which is how the restore agent loads tables in parallel.
// For a script, OpenScript (or NewScriptReader) yields statements, psql meta-commands and
// COPY blocks with their rows, in file order, each with the section (pre-data, data,
// post-data) it belongs to. Detect tells the formats apart from the first bytes, tar and
// directory archives and empty files included, so they can be refused by name. Running the
// SQL, masking rows and loading them belong to the restore agent.
//
// Archive.Schema and ReadScriptSchema read what the backup's statements say about its tables
// without restoring anything: columns and their types (domains resolved), partitioned and
// inheritance parents, large objects, INSERT-loaded tables. A masking plan is made from it
// before any data moves. Archive.LargeObjects streams the contents of large objects.
//
// Damaged input never panics or hangs: every parse error of a truncated or corrupt backup
// wraps ErrCorrupt and says what was being read and where (archive offset or script line);
// formats, archive versions and features this package cannot read wrap ErrUnsupported.
// Archives must be versions 1.12 to 1.16 (pg_dump 9.0 to 17), uncompressed or gzip.
package pgdump
