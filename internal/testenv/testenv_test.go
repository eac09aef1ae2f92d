package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedisPrefixIsolation(t *testing.T) {
	c1, p1 := Redis(t)
	_, p2 := Redis(t)
	if p1 == p2 {
		t.Fatalf("two tests got the same prefix %q", p1)
	}
	if err := c1.Set(context.Background(), p1+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresDatabasePerTest(t *testing.T) {
	u1, u2 := Postgres(t), Postgres(t)
	if u1 == u2 {
		t.Fatalf("two tests got the same database %q", u1)
	}
	c, err := pgx.Connect(context.Background(), u1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "CREATE TABLE x (id int)"); err != nil {
		t.Fatal(err)
	}
}

// The fallbacks start servers from the system binaries, as on a fresh CI machine.
func TestStartRedisFromBinary(t *testing.T) {
	u, err := startRedis()
	if err != nil {
		t.Fatal(err)
	}
	if err := pingRedis(u); err != nil {
		t.Fatal(err)
	}
}

func TestStartPostgresFromBinary(t *testing.T) {
	u, err := startPostgres()
	if err != nil {
		t.Fatal(err)
	}
	if err := pingPostgres(u); err != nil {
		t.Fatal(err)
	}
}

func TestMoto(t *testing.T) {
	a := Moto(t)
	if err := pingMoto(a.Endpoint); err != nil {
		t.Fatal(err)
	}
}
