package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/agent/pgdump"
	"github.com/clonebot/clonebot/jobs"
)

// ownerOrACL matches script statements that name production roles: ownership and privileges
// (pg_restore --no-owner --no-acl).
var ownerOrACL = regexp.MustCompile(`(?is)^\s*(ALTER\s+.*\s+OWNER\s+TO\s|GRANT\s|REVOKE\s|ALTER\s+DEFAULT\s+PRIVILEGES\s|SET\s+SESSION\s+AUTHORIZATION\s)`)

// largeObjectComment matches the statements a script gives large objects besides their
// creation and data.
var largeObjectComment = regexp.MustCompile(`(?is)^\s*(COMMENT|SECURITY\s+LABEL(\s+FOR\s+\S+)?)\s+ON\s+LARGE\s+OBJECT\s`)

// restoreScript restores a plain SQL script (gzip or not), whose schema the plan was made
// from, as it streams: statements in order on one connection, COPY blocks masked on the way
// in, post-data collected and run like an archive's. It returns the tables it loaded.
func (r *run) restoreScript(ctx context.Context, src *backupSource, n int) ([]string, error) {
	sr, err := pgdump.OpenScript(src.script())
	if err != nil {
		return nil, err
	}
	if err := r.preData(ctx, nil); err != nil {
		return nil, err
	}
	conn, err := r.target.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	dropLOs := r.plan.LargeObjects() == mask.PolicyDrop
	var post []postItem
	var tables []string
	data := false
	for {
		it, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case it.Meta != "" || ownerOrACL.MatchString(it.SQL):
		case dropLOs && (largeObjectEntry(it.Desc, "") || largeObjectComment.MatchString(it.SQL)):
		case it.Copy != nil:
			if !data {
				r.progress.start(jobs.PhaseData)
				data = true
			}
			t, err := r.scriptLoad(src.schema, it.Copy)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(tables, t.table) {
				tables = append(tables, t.table)
			}
			if err := r.loadTable(ctx, conn, t); err != nil {
				return nil, fmt.Errorf("load %s: %w", t.table, err)
			}
		case it.Section == pgdump.SectionPostData:
			kind := kindOf(it.Desc)
			if it.Desc == "INDEX" && !plainIndex.MatchString(it.SQL) {
				// A script gives the ALTER TABLE ... CLUSTER ON or REPLICA IDENTITY of an
				// index entry as a statement of its own: it must follow the index builds.
				kind = postOrdered
			}
			post = append(post, postItem{kind: kind, sql: it.SQL})
		default:
			if err := execSQL(ctx, conn, it.SQL); err != nil {
				return nil, fmt.Errorf("script line %d %q: %w", it.Line, firstLine(it.SQL), err)
			}
		}
	}
	return tables, r.postData(ctx, post, nil, n)
}

// scriptLoad returns the load of one COPY block: into the table it names, or the partitioned
// table above it when the plan routes its rows from there.
func (r *run) scriptLoad(schema *pgdump.Schema, c *pgdump.CopyBlock) (tableLoad, error) {
	t := tableLoad{table: c.Table, schema: c.Schema, name: c.Name, columns: c.Columns,
		open: func() (io.ReadCloser, error) { return io.NopCloser(c.Rows), nil }}
	if c.Schema == "" {
		t.table = "public." + c.Name // an unqualified COPY, as pg_dump never writes it
	}
	def, ok := schema.Table(t.table)
	if !ok {
		return t, permanent(nil, "the script copies rows into %s, which it does not define", t.table)
	}
	t.schema, t.name = def.Schema, def.Name
	if t.columns == nil {
		for _, col := range def.Columns {
			t.columns = append(t.columns, col.Name)
		}
	}
	if via, ok := schema.Table(r.plan.LoadVia(t.table)); ok {
		t.schema, t.name = via.Schema, via.Name
	}
	return t, nil
}
