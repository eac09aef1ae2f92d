package local

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// goldenCopy makes a golden copy as the lifecycle does: a clone made for a golden id, filled
// by its own role as the restore agent fills it (schemas, tables with identity and serial
// columns, a view, a function, a type, a statistics object), then sealed. It returns the id
// and a session its role still held when it was sealed.
func goldenCopy(t *testing.T, p *Provisioner) (string, provisioner.Credentials) {
	t.Helper()
	ctx := context.Background()
	sp := spec("prod")
	sp.RequestID = approvals.NewGoldenID()
	_, creds := create(t, p, sp)
	conn, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA billing;
		CREATE TYPE billing.plan AS ENUM ('free', 'pro');
		CREATE TABLE public.customers (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text UNIQUE, plan billing.plan);
		CREATE TABLE billing.invoices (id serial PRIMARY KEY, customer int REFERENCES public.customers, cents bigint);
		CREATE SEQUENCE billing.numbers;
		CREATE VIEW billing.totals AS SELECT customer, sum(cents) FROM billing.invoices GROUP BY customer;
		CREATE FUNCTION billing.cents(int) RETURNS bigint LANGUAGE sql AS 'SELECT sum(cents) FROM billing.invoices WHERE customer = $1';
		CREATE STATISTICS billing.inv_stats ON customer, cents FROM billing.invoices;
		INSERT INTO public.customers (email, plan) VALUES ('u1@example.invalid', 'pro'), ('u2@example.invalid', 'free');
		INSERT INTO billing.invoices (customer, cents) VALUES (1, 500), (1, 700), (2, 100)`); err != nil {
		t.Fatal(rec.Err(err))
	}
	straggler, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { straggler.Close(context.Background()) })
	if err := p.Seal(ctx, sp.RequestID); err != nil {
		t.Fatalf("seal: %v", rec.Err(err))
	}
	if err := straggler.Ping(ctx); err == nil {
		t.Error("a session of the golden copy survived its sealing")
	}
	if canLogin(t, creds, "") {
		t.Error("the golden copy's role still logs in after sealing")
	}
	if err := p.Seal(ctx, sp.RequestID); err != nil {
		t.Fatalf("sealing again: %v", rec.Err(err))
	}
	return sp.RequestID, creds
}

func TestThinCopyOfGoldenCopy(t *testing.T) {
	p := newProvisioner(t, "")
	ctx := context.Background()
	golden, goldenCreds := goldenCopy(t, p)

	// A session on the golden copy would block the copy: none can be opened any more, even
	// by a superuser.
	cc, err := pgx.ParseConfig(server(t).superURL)
	if err != nil {
		t.Fatal(err)
	}
	cc.Database = cloneName(golden)
	if c, err := pgx.ConnectConfig(ctx, cc); err == nil {
		c.Close(ctx)
		t.Fatal("a session opened on the sealed golden copy")
	}
	sp := spec("prod")
	sp.Golden = golden
	clone, creds := create(t, p, sp)

	// The copy holds the golden copy's rows, and its role owns every object as after a restore.
	conn, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var total int64
	if err := conn.QueryRow(ctx, "SELECT billing.cents(1)").Scan(&total); err != nil || total != 1200 {
		t.Fatalf("billing.cents(1) = %d, %v; want 1200", total, rec.Err(err))
	}
	var foreign []string
	rows, err := conn.Query(ctx, `SELECT i.type || ' ' || i.identity FROM pg_shdepend d, LATERAL pg_identify_object(d.classid, d.objid, 0) i
		WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND d.deptype = 'o'
		  AND d.refobjid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)`)
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		foreign = append(foreign, s)
	}
	if len(foreign) > 0 {
		t.Fatalf("objects of the copy owned by another role: %q", foreign)
	}
	for _, stmt := range []string{
		"INSERT INTO public.customers (email) VALUES ('u3@example.invalid')", // the identity's sequence
		"INSERT INTO billing.invoices (customer, cents) VALUES (3, 1)",       // the serial's sequence
		"SELECT nextval('billing.numbers')",
		"ALTER TABLE billing.invoices ADD COLUMN note text", // owner's rights, as after a restore
		"DROP VIEW billing.totals",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Errorf("%s: %v", stmt, rec.Err(err))
		}
	}

	// Neither the copy's credentials nor anyone else's reach the golden copy, which its role
	// still owns.
	if canLogin(t, creds, cloneName(golden)) {
		t.Error("the copy's credentials open the golden copy")
	}
	if owner, err := databaseOwner(ctx, superuser(t, ""), cloneName(golden)); err != nil || owner != cloneName(golden) {
		t.Errorf("golden copy's database owned by %q (%v)", owner, err)
	}
	if creds.Password.Reveal() == goldenCreds.Password.Reveal() || clone.Database == cloneName(golden) {
		t.Fatal("the copy shares the golden copy's password or database")
	}
}

func TestThinCopiesAtOnce(t *testing.T) {
	p := newProvisioner(t, "")
	golden, _ := goldenCopy(t, p)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		sp := spec("prod")
		sp.Golden = golden
		t.Cleanup(func() { _ = rec.Err(p.Destroy(context.Background(), sp.RequestID)) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Create(context.Background(), sp, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent thin copies: %v", rec.Err(err))
	}
	// The golden copy is destroyed like any clone, sealed as it is.
	if err := p.Destroy(context.Background(), golden); err != nil {
		t.Fatal(rec.Err(err))
	}
	if dbs, roles := count(t, cloneName(golden)); dbs+roles != 0 {
		t.Fatalf("golden copy left %d database(s), %d role(s)", dbs, roles)
	}
}
