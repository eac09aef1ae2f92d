package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/clonebot/clonebot/agent/pgdump"
	"github.com/clonebot/clonebot/jobs"
)

// ownerOrACL matches script statements that name production roles: ownership and privileges
// (pg_restore --no-owner --no-acl).
var ownerOrACL = regexp.MustCompile(`(?is)^\s*(ALTER\s+.*\s+OWNER\s+TO\s|GRANT\s|REVOKE\s|ALTER\s+DEFAULT\s+PRIVILEGES\s|SET\s+SESSION\s+AUTHORIZATION\s)`)

// restoreScript restores a plain SQL script (gzip or not) as it streams: statements in order
// on one connection, COPY blocks masked on the way in, post-data collected and run like an
// archive's. It returns the tables it loaded.
func (r *run) restoreScript(ctx context.Context, src io.Reader, n int) ([]string, error) {
	sr, err := pgdump.OpenScript(src)
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
	var post []postItem
	var tables []string
	var schema map[string][]string
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
		case it.Copy != nil:
			if schema == nil {
				// step 1: the rules against the schema the script created, before any row.
				if schema, err = r.checkCatalog(ctx, conn); err != nil {
					return nil, err
				}
				r.progress.start(jobs.PhaseData)
			}
			t := tableLoad{table: it.Copy.Table, schema: it.Copy.Schema, name: it.Copy.Name, columns: it.Copy.Columns,
				open: func() (io.ReadCloser, error) { return io.NopCloser(it.Copy.Rows), nil }}
			if t.columns == nil {
				t.columns = schema[t.table]
			}
			tables = append(tables, t.table)
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
	if schema == nil {
		if _, err := r.checkCatalog(ctx, conn); err != nil {
			return nil, err
		}
	}
	return tables, r.postData(ctx, post, nil, n)
}
