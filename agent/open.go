package agent

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/agent/pgdump"
)

// Reasons of the formats the agent refuses by name.
const (
	reasonTar       = "tar archives are not supported: dump with -Fc (custom), or -Fp for a plain SQL script"
	reasonDirectory = "directory archives (pg_dump -Fd) are not supported: dump with -Fc (custom), or -Fp for a plain SQL script"
	reasonEmpty     = "the backup file is empty (0 bytes): the dump did not finish or the file was cut short; dump again"
	reasonUnknown   = "the backup is neither a pg_dump custom archive nor a SQL script (plain or gzip)"
)

// detectFormat reads the first bytes of the backup and refuses, by name, what the agent
// cannot restore.
func detectFormat(b io.ReaderAt) (pgdump.Format, error) {
	head := make([]byte, 512)
	m, err := b.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return pgdump.FormatUnknown, fmt.Errorf("read backup: %w", err)
	}
	switch f := pgdump.Detect(head[:m]); f {
	case pgdump.FormatCustom, pgdump.FormatPlain, pgdump.FormatPlainGzip:
		return f, nil
	case pgdump.FormatTar:
		return f, permanent(nil, reasonTar)
	case pgdump.FormatDirectory:
		return f, permanent(nil, reasonDirectory)
	case pgdump.FormatEmpty:
		return f, permanent(nil, reasonEmpty)
	}
	return pgdump.FormatUnknown, permanent(nil, reasonUnknown)
}

// backupSource is an opened backup: the schema its statements define, and the custom archive
// or a way to read the script again.
type backupSource struct {
	schema  *pgdump.Schema
	archive *pgdump.Archive  // nil for a script
	script  func() io.Reader // a reader of the whole script from its start
	size    int64
}

// openBackup reads the schema of a backup of a known format. A script is read to its end, so
// a truncated or damaged script is refused before anything is restored.
func openBackup(b io.ReaderAt, size int64, f pgdump.Format) (*backupSource, error) {
	if f == pgdump.FormatCustom {
		arch, err := pgdump.OpenCustom(b, size)
		if err != nil {
			return nil, err
		}
		schema, err := arch.Schema()
		if err != nil {
			return nil, err
		}
		return &backupSource{schema: schema, archive: arch, size: size}, nil
	}
	script := func() io.Reader { return io.NewSectionReader(b, 0, size) }
	schema, err := pgdump.ReadScriptSchema(script(), nil)
	if err != nil {
		return nil, err
	}
	return &backupSource{schema: schema, script: script, size: size}, nil
}

// maskTables returns a backup's tables as masking plans see them.
func maskTables(s *pgdump.Schema) []mask.Table {
	out := make([]mask.Table, len(s.Tables))
	for i, t := range s.Tables {
		cols := make([]mask.Column, len(t.Columns))
		for j, c := range t.Columns {
			cols[j] = mask.Column{Name: c.Name, Type: c.Type}
		}
		out[i] = mask.Table{Name: t.QualifiedName(), Columns: cols, Parents: t.Parents,
			Partitioned: t.Partitioned, PartitionKey: t.PartitionKey}
	}
	return out
}

// planFor applies a masking level to a backup's schema and refuses, before any data moves,
// what the level does not allow: rules naming what the backup lacks, unclassified columns,
// large objects, and rows loaded by INSERT statements, which masking cannot see.
func planFor(p *mask.Profile, s *pgdump.Schema) (*mask.Plan, error) {
	plan, err := p.Resolve(maskTables(s))
	if err != nil {
		return nil, permanent(err, "the masking rules do not match the backup")
	}
	if err := plan.Refusal(); err != nil {
		return nil, permanent(nil, "%v", err)
	}
	if s.LargeObjects > 0 && plan.LargeObjects() == mask.PolicyRefuse {
		return nil, permanent(nil, "the backup holds %d large objects, which masking cannot look into: masking level %s refuses them; "+
			"add large_objects: drop (or large_objects: keep) to the level, or dump without large objects (pg_dump --no-large-objects)",
			s.LargeObjects, p.Level())
	}
	if len(s.Inserts) > 0 && p.Masked() {
		return nil, permanent(nil, "the backup loads the rows of %s with INSERT statements (pg_dump --inserts), which masking cannot "+
			"rewrite: dump without --inserts or --column-inserts", strings.Join(s.Inserts, ", "))
	}
	return plan, nil
}

// largeObjectEntry reports whether an archive entry or script statement belongs to large
// objects: their creation, data, comments and security labels.
func largeObjectEntry(desc, tag string) bool {
	switch desc {
	case "BLOB", "BLOB METADATA", "BLOBS":
		return true
	case "COMMENT", "SECURITY LABEL":
		return strings.HasPrefix(tag, "LARGE OBJECT ")
	}
	return false
}
