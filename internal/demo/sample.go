package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
)

// sampleSQL makes the sample "prod" data: users with the PII the masking rules name (name,
// email, SSN, phone) and payments with card numbers, all derived from the row number so every
// run has the same data. The inserts fill users $1 to $2 (1 and the number of users); each has
// two payments. Arithmetic on row numbers is in bigint, so a million users fit.
var sampleSQL = []string{
	`CREATE TABLE users (
		id         integer PRIMARY KEY,
		name       text NOT NULL,
		email      text NOT NULL UNIQUE,
		ssn        text,
		phone      text,
		created_at timestamptz NOT NULL
	)`,
	`CREATE TABLE payments (
		id          integer PRIMARY KEY,
		user_id     integer NOT NULL REFERENCES users,
		card_number text NOT NULL,
		amount      numeric(10,2) NOT NULL,
		paid_at     timestamptz NOT NULL
	)`,
	`CREATE INDEX payments_user_id ON payments (user_id)`,
	`INSERT INTO users
	 SELECT g, f || ' ' || l, lower(f) || '.' || lower(l) || g || '@example.com',
	        lpad(((g * 7) % 899 + 100)::text, 3, '0') || '-' || lpad(((g * 13) % 99 + 1)::text, 2, '0') || '-' ||
	          lpad(((g * 37) % 9999 + 1)::text, 4, '0'),
	        '+1 ' || (200 + g % 700) || '-555-' || lpad((g % 10000)::text, 4, '0'),
	        timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes'
	 FROM generate_series($1::int, $2::int) AS g,
	      LATERAL (SELECT (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','Ken','Radia','Tim'])[1 + g % 10] AS f,
	                      (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Thompson','Perlman','Berners'])[1 + (g / 10) % 10] AS l) AS n`,
	`INSERT INTO payments
	 SELECT p, 1 + (p - 1) / 2, substr(c, 1, 4) || ' ' || substr(c, 5, 4) || ' ' || substr(c, 9, 4) || ' ' || substr(c, 13, 4),
	        ((p::bigint * 7919) % 100000) / 100.0, timestamptz '2024-03-01 00:00:00+00' + p * interval '11 minutes'
	 FROM generate_series(2 * $1::int - 1, 2 * $2::int) AS p,
	      LATERAL (SELECT '4' || lpad(((p::bigint * 982451653) % 1000000000000000)::text, 15, '0') AS c) AS n`,
	`ANALYZE`,
}

// fillSample runs sampleSQL on db for users first to last.
func fillSample(ctx context.Context, db *pgx.Conn, first, last int) error {
	for _, stmt := range sampleSQL {
		var args []any
		if strings.HasPrefix(stmt, "INSERT") { // sized by the users
			args = append(args, first, last)
		}
		if _, err := db.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("fill sample database: %w", err)
		}
	}
	return nil
}

// sample is the generated source database and its backup.
type sample struct {
	database string    // the live "prod" database on the server
	date     time.Time // the day of its backup
	dump     string    // <backups>/prod/<date>/prod.dump
	users    int
}

// makeSample creates the sample database on the server, closes it to every other role (a
// clone's role must not reach it), and writes its pg_dump -Fc backup for day under backups,
// laid out as the local catalogue expects.
func makeSample(ctx context.Context, pg *pgEnv, backups string, day time.Time, users int, cl *cleanups) (*sample, error) {
	s := &sample{date: day, users: users}
	// step 1: the database, dropped at the end.
	var err error
	if s.database, err = pg.createDatabase(ctx, "demo_prod_", cl); err != nil {
		return nil, err
	}
	super, err := pgx.Connect(ctx, pg.superURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, "REVOKE CONNECT ON DATABASE "+s.database+" FROM PUBLIC"); err != nil {
		return nil, fmt.Errorf("close sample database: %w", err)
	}

	// step 2: the data.
	db, err := pgx.Connect(ctx, testenv.WithDatabase(pg.superURL, s.database))
	if err != nil {
		return nil, fmt.Errorf("connect to sample database: %w", err)
	}
	defer db.Close(ctx)
	if err := fillSample(ctx, db, 1, users); err != nil {
		return nil, err
	}

	// step 3: its backup, as the nightly job would have made it.
	dir := filepath.Join(backups, "prod", day.Format(time.DateOnly))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.dump = filepath.Join(dir, "prod.dump")
	cmd, err := pgCommand(ctx, "pg_dump", testenv.WithDatabase(pg.superURL, s.database), "-Fc", "--no-owner", "--no-privileges", "-f", s.dump)
	if err != nil {
		return nil, err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_dump: %w: %s", err, out)
	}
	return s, nil
}
