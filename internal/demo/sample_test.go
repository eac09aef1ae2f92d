package demo

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
)

// TestSampleFitsAMillionUsers fills the last rows of a million-user sample (every row of a
// sample is computed from its number alone, so the last ten are what overflows first) and
// checks what they hold.
func TestSampleFitsAMillionUsers(t *testing.T) {
	ctx := context.Background()
	db, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	const users = 1_000_000
	if err := fillSample(ctx, db, users-9, users); err != nil {
		t.Fatal(err)
	}
	var n, payments, maxUser int
	var maxAmount float64
	err = db.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM payments),
		(SELECT max(user_id) FROM payments), (SELECT max(amount) FROM payments)`).Scan(&n, &payments, &maxUser, &maxAmount)
	if err != nil {
		t.Fatal(err)
	}
	if n != 10 || payments != 20 || maxUser != users || maxAmount <= 0 || maxAmount >= 1000 {
		t.Fatalf("%d users, %d payments, last user %d, largest amount %.2f", n, payments, maxUser, maxAmount)
	}
}
