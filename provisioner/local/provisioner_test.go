package local

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// newProvisioner returns a Provisioner on the password-checking server, logging into rec and
// registering every password it generates. Sources get restore and, when template is not
// empty, a fast-clone source "live" copying it.
func newProvisioner(t *testing.T, template string) *Provisioner {
	t.Helper()
	s := server(t)
	cfg := Config{
		AdminURL:   s.adminURL,
		Host:       "127.0.0.1",
		Port:       s.port,
		SecretsDir: filepath.Join(t.TempDir(), "secrets"),
		Backups:    filepath.Join(t.TempDir(), "{source}", "{date}"),
		Sources:    map[string]SourceConfig{"prod": {Strategy: provisioner.StrategyRestore}},
	}
	if template != "" {
		cfg.Sources["live"] = SourceConfig{Strategy: provisioner.StrategyFastClone, Template: template}
	}
	rec.LogOnFailure(t)
	p, err := New(cfg, rec.Logger().With(zap.String("test", t.Name())))
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	p.NewPassword = func() (provisioner.Password, error) {
		pw, err := provisioner.GeneratePassword()
		rec.Secret(pw.Reveal())
		return pw, err
	}
	return p
}

func spec(source string) provisioner.Spec {
	return provisioner.Spec{
		RequestID: testenv.UniqueName("req"),
		Source:    source,
		Tier:      "dev",
		Requester: "U123",
		ExpiresAt: time.Now().Add(time.Hour),
	}
}

// create makes a clone, destroys it when the test ends, and returns it with its credentials.
func create(t *testing.T, p *Provisioner, sp provisioner.Spec) (provisioner.Clone, provisioner.Credentials) {
	t.Helper()
	ctx := context.Background()
	var steps []string
	clone, err := p.Create(ctx, sp, func(pr provisioner.Progress) {
		rec.Text(pr.Step + " " + pr.Detail)
		steps = append(steps, pr.Step)
	})
	t.Cleanup(func() { _ = rec.Err(p.Destroy(context.Background(), sp.RequestID)) })
	if err := rec.Err(err); err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(steps) == 0 || steps[len(steps)-1] != "login enabled" {
		t.Fatalf("progress %q, want it to end with login enabled", steps)
	}
	creds, err := p.SecretStore().Resolve(ctx, clone.CredentialRef)
	if err := rec.Err(err); err != nil {
		t.Fatalf("resolve %s: %v", clone.CredentialRef, err)
	}
	return clone, creds
}

// count returns how many databases and roles are named name.
func count(t *testing.T, name string) (databases, roles int) {
	t.Helper()
	conn := superuser(t, "")
	ctx := context.Background()
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1), (SELECT count(*) FROM pg_roles WHERE rolname = $1)", name).Scan(&databases, &roles); err != nil {
		t.Fatal(err)
	}
	return databases, roles
}

func TestCloneCredentialsReachOnlyTheirOwnDatabase(t *testing.T) {
	p := newProvisioner(t, "")
	a, credsA := create(t, p, spec("prod"))
	b, credsB := create(t, p, spec("prod"))

	if a.User == b.User || a.Database == b.Database || a.CredentialRef == b.CredentialRef {
		t.Fatalf("two clones share a name: %+v and %+v", a, b)
	}
	if credsA.Password.Reveal() == credsB.Password.Reveal() {
		t.Fatal("two clones share a password")
	}
	if credsA.Host != "127.0.0.1" || credsA.Port != server(t).port || credsA.Username != a.User || credsA.DBName != a.Database || credsA.Engine != "postgres" {
		t.Fatalf("credentials %+v do not match clone %+v", credsA, a)
	}
	if !canLogin(t, credsA, "") || !canLogin(t, credsB, "") {
		t.Fatal("a clone refuses its own credentials")
	}
	wrong := credsA
	wrong.Password = credsB.Password
	if canLogin(t, wrong, "") {
		t.Fatal("the server accepted a wrong password: it is not checking passwords, the test proves nothing")
	}
	for _, db := range []string{b.Database, "postgres", "template1"} {
		if canLogin(t, credsA, db) {
			t.Errorf("clone %s's credentials open database %s", a.Database, db)
		}
	}
	if canLogin(t, credsB, a.Database) {
		t.Errorf("clone %s's credentials open database %s", b.Database, a.Database)
	}
}

// TestCloneRoleCanResetItsSchema: before every restore attempt the agent, logged in as the
// clone's own role, drops and recreates the public schema (a stock PostgreSQL 15 database's
// public schema belongs to pg_database_owner); the role must be able to.
func TestCloneRoleCanResetItsSchema(t *testing.T) {
	p := newProvisioner(t, "")
	_, creds := create(t, p, spec("prod"))
	ctx := context.Background()
	conn, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{"DROP SCHEMA public CASCADE", "CREATE SCHEMA public", "CREATE TABLE public.t (id int)"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s as the clone's role: %v", stmt, rec.Err(err))
		}
	}
}

func TestDestroyRevokesAtOnce(t *testing.T) {
	p := newProvisioner(t, "")
	sp := spec("prod")
	clone, creds := create(t, p, sp)
	ctx := context.Background()
	open, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(ctx)

	if err := rec.Err(p.Destroy(ctx, sp.RequestID)); err != nil {
		t.Fatal(err)
	}
	if err := open.Ping(ctx); err == nil {
		t.Error("a session opened before Destroy still works after it")
	}
	if canLogin(t, creds, "") {
		t.Error("credentials still work after Destroy")
	}
	if dbs, roles := count(t, clone.Database); dbs != 0 || roles != 0 {
		t.Errorf("after Destroy: %d databases, %d roles named %s", dbs, roles, clone.Database)
	}
	if _, err := p.SecretStore().Resolve(ctx, clone.CredentialRef); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("secret after Destroy: %v, want it gone", rec.Err(err))
	}
	if err := rec.Err(p.Destroy(ctx, sp.RequestID)); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if err := rec.Err(p.Destroy(ctx, "never-created")); err != nil {
		t.Errorf("Destroy of nothing: %v", err)
	}
}

func TestExtendMovesValidUntil(t *testing.T) {
	p := newProvisioner(t, "")
	sp := spec("prod")
	clone, creds := create(t, p, sp)
	ctx := context.Background()
	storedExpiry := func() time.Time {
		sec, err := p.secrets.read(clone.Database)
		if err != nil {
			t.Fatal(rec.Err(err))
		}
		return sec.ExpiresAt
	}

	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	if err := rec.Err(p.Extend(ctx, sp.RequestID, past)); err != nil {
		t.Fatal(err)
	}
	if canLogin(t, creds, "") {
		t.Error("credentials work after VALID UNTIL passed")
	}
	if got := storedExpiry(); !got.Equal(past) {
		t.Errorf("stored expiry %s, want %s", got, past)
	}

	later := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Microsecond)
	if err := rec.Err(p.Extend(ctx, sp.RequestID, later)); err != nil {
		t.Fatal(err)
	}
	if !canLogin(t, creds, "") {
		t.Error("credentials refused after extending the expiry")
	}
	var until time.Time
	if err := superuser(t, "").QueryRow(ctx, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", clone.User).Scan(&until); err != nil {
		t.Fatal(err)
	}
	if !until.Equal(later) || !storedExpiry().Equal(later) {
		t.Errorf("VALID UNTIL %s, stored %s, want %s", until, storedExpiry(), later)
	}
	if err := p.Extend(ctx, "never-created", later); !errors.Is(rec.Err(err), ErrUnknownClone) {
		t.Errorf("Extend of nothing: %v, want ErrUnknownClone", err)
	}
}

func TestCreateFinishesAfterCrash(t *testing.T) {
	template := liveTemplate(t)
	for _, source := range []string{"prod", "live"} {
		for _, step := range []string{"role", "database", "privileges", "secret"} {
			t.Run(source+"/after-"+step, func(t *testing.T) {
				p := newProvisioner(t, template)
				sp := spec(source)
				ctx := context.Background()
				p.fault = func(s string) error {
					if s == step {
						return errCrash
					}
					return nil
				}
				if _, err := p.Create(ctx, sp, nil); !errors.Is(rec.Err(err), errCrash) {
					t.Fatalf("crashing Create: %v", err)
				}
				p.fault = nil
				clone, creds := create(t, p, sp)
				again, err := p.Create(ctx, sp, nil)
				if err := rec.Err(err); err != nil {
					t.Fatalf("third Create: %v", err)
				}
				if again.Database != clone.Database || again.CredentialRef != clone.CredentialRef {
					t.Errorf("retried Create returned %+v, first %+v", again, clone)
				}
				if dbs, roles := count(t, clone.Database); dbs != 1 || roles != 1 {
					t.Errorf("%d databases and %d roles named %s, want one each", dbs, roles, clone.Database)
				}
				if !canLogin(t, creds, "") {
					t.Error("stored credentials refused after the retried Create")
				}
			})
		}
	}
}

func TestDestroyFinishesAfterCrash(t *testing.T) {
	for _, step := range []string{"nologin", "sessions", "database", "role"} {
		t.Run("after-"+step, func(t *testing.T) {
			p := newProvisioner(t, "")
			sp := spec("prod")
			clone, creds := create(t, p, sp)
			ctx := context.Background()
			p.fault = func(s string) error {
				if s == step {
					return errCrash
				}
				return nil
			}
			if err := p.Destroy(ctx, sp.RequestID); !errors.Is(rec.Err(err), errCrash) {
				t.Fatalf("crashing Destroy: %v", err)
			}
			if canLogin(t, creds, "") {
				t.Error("credentials work after a Destroy that got past its first step")
			}
			p.fault = nil
			if err := rec.Err(p.Destroy(ctx, sp.RequestID)); err != nil {
				t.Fatalf("retried Destroy: %v", err)
			}
			if dbs, roles := count(t, clone.Database); dbs != 0 || roles != 0 {
				t.Errorf("%d databases and %d roles left", dbs, roles)
			}
		})
	}
}

func TestNameTakenIsLeftAlone(t *testing.T) {
	p := newProvisioner(t, "")
	sp := spec("prod")
	name := cloneName(sp.RequestID)
	conn := superuser(t, "")
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+name+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+name) })

	if _, err := p.Create(ctx, sp, nil); !errors.Is(rec.Err(err), ErrNameTaken) {
		t.Errorf("Create over a foreign role: %v, want ErrNameTaken", err)
	}
	if err := p.Destroy(ctx, sp.RequestID); !errors.Is(rec.Err(err), ErrNameTaken) {
		t.Errorf("Destroy of a foreign role: %v, want ErrNameTaken", err)
	}
	if dbs, roles := count(t, name); dbs != 0 || roles != 1 {
		t.Errorf("%d databases, %d roles named %s; want the foreign role alone", dbs, roles, name)
	}
}

// liveTemplate makes a database owned by the admin role, with data and CONNECT revoked from
// PUBLIC, as an operator prepares a fast-clone source.
func liveTemplate(t *testing.T) string {
	t.Helper()
	s := server(t)
	name := testenv.UniqueName("live_")
	su := superuser(t, "")
	ctx := context.Background()
	if _, err := su.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+s.adminName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = su.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	if _, err := su.Exec(ctx, "REVOKE CONNECT ON DATABASE "+name+" FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	admin := adminSession(t, name)
	if _, err := admin.Exec(ctx, `CREATE TABLE customers (id serial PRIMARY KEY, email text);
		INSERT INTO customers (email) VALUES ('ann@example.com'), ('bob@example.com')`); err != nil {
		t.Fatal(err)
	}
	return name
}

// adminSession opens a session of the provisioner's admin role on database, as an
// application of the operator's would hold one.
func adminSession(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(server(t).adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + database
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestFastCloneCopiesTemplate(t *testing.T) {
	template := liveTemplate(t)
	p := newProvisioner(t, template)
	ctx := context.Background()

	// A session on the template would block the copy; Create ends it.
	blocker := adminSession(t, template)
	clone, creds := create(t, p, spec("live"))
	if err := blocker.Ping(ctx); err == nil {
		t.Error("the session on the template survived the copy")
	}

	conn, err := loginAs(ctx, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var emails []string
	rows, err := conn.Query(ctx, "SELECT email FROM customers ORDER BY id")
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(rec.Err(err))
	}
	if strings.Join(emails, ",") != "ann@example.com,bob@example.com" {
		t.Errorf("clone %s has %q", clone.Database, emails)
	}
	// Masking happens in place, so the clone's role may change the copied rows.
	if _, err := conn.Exec(ctx, "UPDATE customers SET email = 'masked'"); err != nil {
		t.Errorf("clone role cannot update its copy: %v", rec.Err(err))
	}
	if canLogin(t, creds, template) {
		t.Error("the clone's credentials open the template")
	}
}

func TestFastCloneRefusesOpenTemplate(t *testing.T) {
	template := liveTemplate(t)
	if _, err := superuser(t, "").Exec(context.Background(), "GRANT CONNECT ON DATABASE "+template+" TO PUBLIC"); err != nil {
		t.Fatal(err)
	}
	p := newProvisioner(t, template)
	sp := spec("live")
	t.Cleanup(func() { _ = rec.Err(p.Destroy(context.Background(), sp.RequestID)) })
	if _, err := p.Create(context.Background(), sp, nil); !errors.Is(rec.Err(err), ErrTemplateOpen) {
		t.Fatalf("Create from a template PUBLIC may connect to: %v, want ErrTemplateOpen", err)
	}
}

func TestCreateRefusesBadSpec(t *testing.T) {
	p := newProvisioner(t, "")
	ctx := context.Background()
	unknown := spec("nope")
	if _, err := p.Create(ctx, unknown, nil); !errors.Is(rec.Err(err), provisioner.ErrUnknownSource) {
		t.Errorf("unknown source: %v, want ErrUnknownSource", err)
	}
	wrongStrategy := spec("prod")
	wrongStrategy.Strategy = provisioner.StrategySnapshot
	if _, err := p.Create(ctx, wrongStrategy, nil); rec.Err(err) == nil {
		t.Error("snapshot strategy on a restore source: no error")
	}
	if dbs, roles := count(t, cloneName(wrongStrategy.RequestID)); dbs+roles != 0 {
		t.Error("a refused Create left a database or role")
	}
}

func TestServerNeverSeesPassword(t *testing.T) {
	p := newProvisioner(t, "")
	clone, creds := create(t, p, spec("prod"))
	log, err := os.ReadFile(server(t).logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `ALTER ROLE "`+clone.User+`" LOGIN PASSWORD 'SCRAM-SHA-256$4096:`) {
		t.Fatal("the server log does not show the statement that set the password; log_statement is not recording")
	}
	if strings.Contains(string(log), creds.Password.Reveal()) {
		t.Error("the server log holds the clone's password")
	}
}

func TestSecretFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := NewSecretStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write("clone_x", secret{Engine: "postgres", Username: "clone_x", Password: "pw", DBName: "clone_x"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "clone_x.json"): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("secrets dir holds %d entries (%v), want only the secret", len(entries), err)
	}
	creds, err := s.Resolve(context.Background(), s.ref("clone_x"))
	if err != nil || creds.Password.Reveal() != "pw" || creds.Username != "clone_x" {
		t.Errorf("Resolve: %+v, %v", creds, err)
	}
}

func TestSecretStoreRefusesForeignReferences(t *testing.T) {
	s, err := NewSecretStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "x.json"), []byte(`{"password":"stolen"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{
		"file://" + filepath.Join(other, "x.json"),
		"file://" + s.dir + "/../" + filepath.Base(other) + "/x.json",
		"file://" + s.dir + "/sub/x.json",
		"file://" + s.dir,
		"file://x.json",
		"arn:aws:secretsmanager:us-east-1:1:secret:x",
		s.path("x"),
	} {
		if _, err := s.Resolve(context.Background(), ref); !errors.Is(err, ErrForeignReference) {
			t.Errorf("Resolve(%q): %v, want ErrForeignReference", ref, err)
		}
	}
}

func TestExposedDatabases(t *testing.T) {
	p := newProvisioner(t, "")
	clone, _ := create(t, p, spec("prod"))
	open := testenv.UniqueName("open_")
	su := superuser(t, "")
	ctx := context.Background()
	if _, err := su.Exec(ctx, "CREATE DATABASE "+open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = su.Exec(ctx, "DROP DATABASE IF EXISTS "+open) })

	got, err := p.ExposedDatabases(ctx)
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	if !slices.Contains(got, open) || slices.Contains(got, clone.Database) || slices.Contains(got, "postgres") {
		t.Errorf("exposed %q: want %s, and neither the clone %s nor the hardened postgres", got, open, clone.Database)
	}
}

func TestConcurrentCreatesShareOneClone(t *testing.T) {
	p := newProvisioner(t, "")
	sp := spec("prod")
	ctx := context.Background()
	t.Cleanup(func() { _ = rec.Err(p.Destroy(context.Background(), sp.RequestID)) })
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			_, err := p.Create(ctx, sp, nil)
			errs <- rec.Err(err)
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Create: %v", err)
		}
	}
	name := cloneName(sp.RequestID)
	if dbs, roles := count(t, name); dbs != 1 || roles != 1 {
		t.Errorf("%d databases and %d roles, want one each", dbs, roles)
	}
	creds, err := p.SecretStore().Resolve(ctx, p.secrets.ref(name))
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	if !canLogin(t, creds, "") {
		t.Error("the stored credentials do not match the role after concurrent Creates")
	}
}
