package local

import (
	"context"
	"errors"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// otherDeployment returns a Provisioner of another clonebot on the same server: an admin role
// and a secrets folder of its own.
func otherDeployment(t *testing.T) *Provisioner {
	t.Helper()
	s := server(t)
	pw, err := provisioner.GeneratePassword()
	if err != nil {
		t.Fatal(err)
	}
	rec.Secret(pw.Reveal())
	verifier, err := scramVerifier(pw)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.UniqueName("cbother_")
	conn := superuser(t, "")
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE ROLE " + name + " LOGIN CREATEDB CREATEROLE IN ROLE pg_signal_backend PASSWORD " + quoteLiteral(verifier),
		"GRANT CONNECT ON DATABASE postgres TO " + name,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(rec.Err(err))
		}
	}
	p := newProvisioner(t, "")
	u := url.URL{Scheme: "postgres", User: url.UserPassword(name, pw.Reveal()), Host: "127.0.0.1:" + strconv.Itoa(s.port), Path: "/postgres", RawQuery: "sslmode=disable"}
	cfg := p.cfg
	cfg.AdminURL = u.String()
	other, err := New(cfg, p.log)
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	other.NewPassword = p.NewPassword
	return other
}

// TestSweepDestroysOnlyOrphans: the sweep finds this clonebot's clones by their roles and their
// credentials files, destroys those no live request owns (a whole clone, and the file a
// destroy stopped short of), and leaves alone the live clone, a role clonebot did not make and
// another clonebot's clone on the same server.
func TestSweepDestroysOnlyOrphans(t *testing.T) {
	ctx := context.Background()
	p := newProvisioner(t, "")
	live, orphan, halfDone := spec("prod"), spec("prod"), spec("prod")
	_, liveCreds := create(t, p, live)
	orphanClone, orphanCreds := create(t, p, orphan)
	create(t, p, halfDone)
	// a destroy that stopped after dropping the role: only the credentials file is left
	p.fault = func(step string) error {
		if step == "role" {
			return errCrash
		}
		return nil
	}
	if err := p.Destroy(ctx, halfDone.RequestID); !errors.Is(rec.Err(err), errCrash) {
		t.Fatalf("crashing destroy: %v", err)
	}
	p.fault = nil
	foreign := cloneName(spec("prod").RequestID)
	conn := superuser(t, "")
	if _, err := conn.Exec(ctx, "CREATE ROLE "+foreign+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+foreign) })
	other := otherDeployment(t)
	neighbour := spec("prod")
	neighbourClone, _ := create(t, other, neighbour)

	var asked []string
	known := func(id string) bool {
		asked = append(asked, id)
		return id == live.RequestID
	}
	destroyed, err := p.Sweep(ctx, known)
	if err := rec.Err(err); err != nil {
		t.Fatal(err)
	}
	want := []string{orphan.RequestID, halfDone.RequestID}
	slices.Sort(want)
	if !slices.Equal(destroyed, want) {
		t.Fatalf("destroyed %v, want %v", destroyed, want)
	}
	if slices.Contains(asked, neighbour.RequestID) {
		t.Error("the sweep looked at another clonebot's clone")
	}
	if dbs, roles := count(t, orphanClone.Database); dbs != 0 || roles != 0 || canLogin(t, orphanCreds, "") {
		t.Errorf("orphan: %d databases, %d roles left", dbs, roles)
	}
	for _, sp := range []provisioner.Spec{orphan, halfDone} {
		if _, err := os.Stat(p.secrets.path(cloneName(sp.RequestID))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("credentials file of %s: %v, want it gone", sp.RequestID, err)
		}
	}
	if !canLogin(t, liveCreds, "") {
		t.Error("the live clone's credentials stopped working")
	}
	if dbs, roles := count(t, neighbourClone.Database); dbs != 1 || roles != 1 {
		t.Errorf("another clonebot's clone: %d databases, %d roles; want it untouched", dbs, roles)
	}
	if _, roles := count(t, foreign); roles != 1 {
		t.Error("a role clonebot did not make was dropped")
	}
	// A second sweep finds nothing more.
	if again, err := p.Sweep(ctx, known); rec.Err(err) != nil || len(again) != 0 {
		t.Fatalf("second sweep destroyed %v, %v", again, err)
	}
}
