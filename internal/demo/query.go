package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// loginAs opens a session with a clone's credentials, over TCP with its password.
func loginAs(ctx context.Context, creds provisioner.Credentials) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", creds.Host, creds.Port, creds.Username, creds.DBName))
	if err != nil {
		return nil, err
	}
	cc.Password = creds.Password.Reveal()
	return pgx.ConnectConfig(ctx, cc)
}

// query logs in to the clone with the credentials its reference resolves to, as the developer
// would, and prints a few rows next to the same rows of the source. It fails if a masked
// column kept a source value.
func (w *world) query(ctx context.Context, r *approvals.Request) (provisioner.Credentials, error) {
	w.say("dana resolves the credential reference and queries the clone as its own user")
	creds, err := w.secrets.Resolve(ctx, r.Clone.CredentialRef)
	if err != nil {
		return provisioner.Credentials{}, fmt.Errorf("resolve the clone's credentials: %w", err)
	}
	fmt.Fprintf(w.out, "%-20s host=%s port=%d dbname=%s user=%s password=%s\n%-20s (the password read from %s)\n",
		"dana connects", creds.Host, creds.Port, creds.DBName, creds.Username, creds.Password, "", r.Clone.CredentialRef)
	clone, err := loginAs(ctx, creds)
	if err != nil {
		return provisioner.Credentials{}, fmt.Errorf("log in to the clone as %s: %w", creds.Username, err)
	}
	defer clone.Close(ctx)
	source, err := pgx.Connect(ctx, testenv.WithDatabase(w.pg.superURL, w.sample.database))
	if err != nil {
		return provisioner.Credentials{}, fmt.Errorf("connect to the source: %w", err)
	}
	defer source.Close(ctx)

	// The first rows of each table; ordered by the integer ids, not the text selected.
	const users = "SELECT id::text, name, email, ssn, phone FROM users ORDER BY users.id LIMIT 3"
	const payments = "SELECT p.id::text, u.email, p.card_number, p.amount::text FROM payments p JOIN users u ON u.id = p.user_id ORDER BY p.id LIMIT 3"
	tw := tabwriter.NewWriter(w.out, 0, 0, 2, ' ', 0)
	for _, q := range []struct {
		title, sql string
		header     string
		masked     []int // columns the staging tier's rules mask
	}{
		{"users", users, "id\tname\temail\tssn\tphone", []int{2, 3}},
		{"payments", payments, "id\tuser's email (joined)\tcard_number\tamount", []int{1, 2}},
	} {
		src, err := rows(ctx, source, q.sql)
		if err != nil {
			return provisioner.Credentials{}, fmt.Errorf("query the source: %w", err)
		}
		got, err := rows(ctx, clone, q.sql)
		if err != nil {
			return provisioner.Credentials{}, fmt.Errorf("query the clone: %w", err)
		}
		if len(got) != len(src) || len(got) == 0 {
			return provisioner.Credentials{}, fmt.Errorf("%s: the clone has %d of the first %d rows of the source", q.title, len(got), len(src))
		}
		fmt.Fprintf(w.out, "\n  %s\n", q.title)
		fmt.Fprintf(tw, "  \t%s\n", q.header)
		for i := range got {
			fmt.Fprintf(tw, "  prod (source)\t%s\n", strings.Join(src[i], "\t"))
			fmt.Fprintf(tw, "  clone (dana)\t%s\n", strings.Join(got[i], "\t"))
			for _, c := range q.masked {
				if got[i][c] == src[i][c] {
					return provisioner.Credentials{}, fmt.Errorf("%s row %s: column %d is not masked in the clone", q.title, got[i][0], c)
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return provisioner.Credentials{}, err
		}
	}
	var n int
	if err := clone.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return provisioner.Credentials{}, fmt.Errorf("count the clone's users: %w", err)
	}
	fmt.Fprintf(w.out, "\n  the clone has all %d users; emails, SSNs and card numbers are masked (staging: partial), joins still match\n\n", n)
	return creds, w.openHome(ctx, developer)
}

// rows runs sql and returns its rows as text, NULL as "NULL".
func rows(ctx context.Context, c *pgx.Conn, sql string) ([][]string, error) {
	rs, err := c.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out [][]string
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// gone checks, and prints, that the clone's database, role and secret no longer exist and
// that its credentials no longer open a session.
func (w *world) gone(ctx context.Context, r *approvals.Request, creds provisioner.Credentials) error {
	w.say("after the expiry: is the clone really gone?")
	admin, err := pgx.Connect(ctx, w.pg.superURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer admin.Close(ctx)
	var dbs, roles int
	if err := admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1), (SELECT count(*) FROM pg_roles WHERE rolname = $2)",
		r.Clone.Database, r.Clone.User).Scan(&dbs, &roles); err != nil {
		return fmt.Errorf("look for the clone: %w", err)
	}
	if dbs != 0 || roles != 0 {
		return fmt.Errorf("after destroy: %d database(s) %s and %d role(s) %s remain", dbs, r.Clone.Database, roles, r.Clone.User)
	}
	fmt.Fprintf(w.out, "  database %s: gone; role %s: gone\n", r.Clone.Database, r.Clone.User)
	path := strings.TrimPrefix(r.Clone.CredentialRef, "file://")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("after destroy: the secret file %s is still there", path)
	}
	if _, err := w.secrets.Resolve(ctx, r.Clone.CredentialRef); err == nil {
		return errors.New("after destroy: the credential reference still resolves")
	}
	fmt.Fprintf(w.out, "  secret %s: gone\n", r.Clone.CredentialRef)
	if c, err := loginAs(ctx, creds); err == nil {
		c.Close(ctx)
		return fmt.Errorf("after destroy: %s can still log in", creds.Username)
	}
	fmt.Fprintf(w.out, "  logging in with the old credentials: refused\n")
	return nil
}
