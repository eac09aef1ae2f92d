package demo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// watch runs Run with opts and hooks that record the clone's password for the leak check and
// check, from the outside, that the clone is gone once destroyed.
type watch struct {
	t       *testing.T
	leaks   *leakcheck.Recorder
	start   time.Time // where the demo clock started: the real time, since PostgreSQL checks the clone's VALID UNTIL by its own clock
	prefix  string    // the Redis key prefix the demo used
	checked bool      // the destroyed hook ran
	expires time.Time // the clone's expiry after its extension
}

func run(t *testing.T, opts Options) (string, *watch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	wt := &watch{t: t, leaks: leakcheck.New(), start: testenv.Now()}
	wt.leaks.LogOnFailure(t) // the bot's, lifecycle's and agent's log lines, secrets redacted
	opts.Start, opts.Users, opts.Logger = wt.start, 500, wt.leaks.Logger()
	opts.hooks = &hooks{ready: wt.ready, destroyed: wt.destroyed}
	var out bytes.Buffer
	err := Run(ctx, opts, &out)
	wt.leaks.Text(out.String())
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if secrets, texts := wt.leaks.Counts(); secrets == 0 || texts < 2 {
		t.Fatalf("the leak check saw %d secrets and %d texts; it must see some to prove anything", secrets, texts)
	}
	for _, l := range wt.leaks.Leaks() {
		t.Errorf("a secret reached the output or the log: %.300s", l)
	}
	if !wt.checked {
		t.Fatal("the destroyed hook never ran")
	}
	return out.String(), wt
}

func (wt *watch) ready(w *world, creds provisioner.Credentials) {
	wt.leaks.Secret(creds.Password.Reveal())
	wt.leaks.Secret(w.maskKey.Reveal())
	wt.prefix = w.redis.prefix
}

// destroyed looks for the clone's database, role and secret with the server's superuser.
func (wt *watch) destroyed(w *world, r *approvals.Request) {
	t := wt.t
	wt.checked, wt.expires = true, r.ExpiresAt
	wt.leaks.Text(w.fake.AllPayloads())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.pg.superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $2)",
		r.Clone.Database, r.Clone.User).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 || r.Clone.Database == "" {
		t.Errorf("after expiry %d objects of clone %q remain", n, r.Clone.Database)
	}
	if _, err := os.Stat(strings.TrimPrefix(r.Clone.CredentialRef, "file://")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the clone's secret file is still there (%v)", err)
	}
	got, err := w.store.Get(ctx, r.ID)
	if err != nil || got.Status != approvals.StatusDestroyed {
		t.Errorf("request %s after expiry: %v, %v", r.ID, got, err)
	}
}

// inOrder fails unless every part appears in out, each after the one before.
func inOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	rest := out
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Fatalf("the output lacks %q after the parts before it:\n%s", p, out)
		}
		rest = rest[i+len(p):]
	}
}

// wantThread is the thread, in the order a person reads it: request, approval, progress, ready
// with a credential reference, masked rows, the warnings, the extension, the expiry, the proof.
func (wt *watch) wantThread() []string {
	day := testenv.Day(wt.start, -1).Format(time.DateOnly)
	expires := wt.expires.UTC().Format("2006-01-02 15:04 MST")
	return []string{
		`builds the scheduled golden copy of prod (full masking)`,
		`[#clone-requests]    Golden copy prod/full (generation 1, gd-`, `masked and verified, built in`,
		`@dana types          /clone prod ` + day + ` tier=staging`,
		`[#clone-requests]    Clone request cl-`,
		`State: ⏳ pending`,
		`[Approve] [Deny]`,
		`@lee opens           the clonebot App Home`,
		`[App Home of @lee]   Your clones`, `Waiting for your approval`, `staging · ⏳ pending · @dana`,
		`@lee clicks          [Approve]`,
		`State: ✅ approved`,
		`@lee approved as lead or security`,
		`State: 📥 restoring`,
		`restoring: waiting for a restore agent`, `restoring: verify`,
		`is ready for @dana: prod as of ` + day + `, partial masking.`,
		`file:///`,
		`[DM to @dana]`,
		`password=[redacted]`, `(the password read from file:///`,
		`prod (source)  1`, `clone (dana)   1`,
		`the clone has all 500 users`,
		`[App Home of @dana]  Your clones`, `staging · 🟢 ready · 8h left · @dana`, `[Extend 1h] [Destroy now]`,
		// a thin copy of the golden copy, next to the restore's time.
		`@dana types          /clone prod latest reason=`, `tier dev (full masking), ttl 8h, a thin copy of golden copy gd-`,
		`is ready for @dana: prod as of ` + day + `, full masking.`,
		`time to ready: `, `as a thin copy of golden copy gd-`, `for dana's staging clone, restored from its backup`,
		`@dana had the clone destroyed; credentials revoked`,
		// a debug request: two distinct approvers, each confirming in a modal; one clicks twice.
		`@omar types          /clone prod latest tier=debug`,
		`@kim clicks          [Approve]`, `[modal for @kim]     Approve cl-`, `You are approving an unmasked copy of prod`,
		`@kim submits         [Approve]`, `@kim approved as on-call peer`,
		`@kim clicks          [Approve]`, `You already approved cl-`, `one person counts once`,
		`@sam submits         [Approve]`, `@sam approved as security or manager; the request is approved`,
		`is ready for @omar: prod as of ` + day + `, no masking.`,
		`@omar types          /clone destroy cl-`, `@omar had the clone destroyed; credentials revoked`,
		// a denial with its reason.
		`@dana types          /clone prod latest tier=staging`, `@lee clicks          [Deny]`, `[modal for @lee]     Deny cl-`,
		`@lee submits         [Deny]`, `State: ⛔ denied`, `@lee denied the request: the dev tier (fully masked) is enough`,
		// break-glass from the incident channel: the alert, the clone, its end, the review.
		`@omar types          /clone breakglass prod`, `[#inc-4411]          Clone request cl-`,
		`[#security-alerts]   🚨 @omar: Break-glass: unmasked clone cl-`,
		`is ready for @omar: prod as of ` + day + `, no masking.`,
		`clonebot destroyed the clone at expiry; credentials revoked`,
		`[#security-alerts]   🔍 Break-glass review cl-`, `the requester may not review it`,
		`@sam clicks          [Reviewed]`, `[modal for @sam]     Review cl-`, `@sam submits         [Reviewed]`,
		`[#security-alerts, edited]`, `✅ Reviewed by @sam at `,
		// back to dana's staging clone.
		`will be destroyed in 1h`,
		`@dana clicks         [Extend 1h]`,
		`TTL: 8h, now 9h (max 48h)`, `@dana extended the clone until ` + expires,
		`will be destroyed in 10m, at ` + expires,
		`State: ⚪ destroyed`,
		`destroyed the clone at expiry`,
		`: gone; role `,
		`logging in with the old credentials: refused`,
		`chain intact, last hash `,
		`@sam types           /clone report 1d`, `Break-glass per month: `, `ended and not reviewed: 0`,
		`Clones by tier: breakglass 1, debug 1, dev 1, staging 1`,
	}
}

var (
	// clockLike is anything that reads as a time of day, with the text around it.
	clockLike = regexp.MustCompile(`(?:^|[^\d.:])\d{1,2}:\d{2}(?:$|[^\d])`)
	// oneFormat is the one way a time is written (approvals.TimeLayout).
	oneFormat = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC`)
)

// checkOneTimeFormat fails on a time written any other way than approvals.TimeLayout.
func checkOneTimeFormat(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		rest := oneFormat.ReplaceAllString(line, "")
		if m := clockLike.FindString(rest); m != "" {
			t.Errorf("a time not written as %q: %q in\n%s", approvals.TimeLayout, m, line)
		}
	}
}

// maskedRow matches a users row of the output: who, id, name, email, ssn.
var maskedRow = regexp.MustCompile(`(?m)^  (prod \(source\)|clone \(dana\))\s+(\d+)\s+(\S+ \S+)\s+(\S+@\S+)\s+(\S+)`)

// checkMasked compares each source row of users with its clone row: the name (not masked at
// the partial level) is kept, the email and SSN are not.
func checkMasked(t *testing.T, out string) {
	t.Helper()
	rows := maskedRow.FindAllStringSubmatch(out, -1)
	if len(rows) != 6 {
		t.Fatalf("want 3 source and 3 clone rows of users, found %d:\n%s", len(rows), out)
	}
	for i := 0; i < len(rows); i += 2 {
		src, cl := rows[i], rows[i+1]
		if src[1] != "prod (source)" || cl[1] != "clone (dana)" || src[2] != cl[2] || src[3] != cl[3] {
			t.Fatalf("rows out of step: %q / %q", src[0], cl[0])
		}
		if cl[4] == src[4] || !strings.Contains(cl[4], "***") || !strings.HasSuffix(cl[4], "@example.com") {
			t.Errorf("user %s: email %q in the clone, %q in the source", src[2], cl[4], src[4])
		}
		if cl[5] == src[5] || !strings.HasPrefix(cl[5], "***-**-") || cl[5][7:] != src[5][7:] {
			t.Errorf("user %s: ssn %q in the clone, %q in the source", src[2], cl[5], src[5])
		}
	}
}

func TestRunWithNothingConfigured(t *testing.T) {
	out, wt := run(t, Options{})
	inOrder(t, out, wt.wantThread()...)
	inOrder(t, out, "embedded Redis (miniredis)", "throwaway PostgreSQL")
	checkMasked(t, out)
	checkOneTimeFormat(t, out)
}

func TestRunOnAGivenRedisDeletesItsKeys(t *testing.T) {
	url := testenv.RedisURL(t)
	out, wt := run(t, Options{RedisURL: url})
	inOrder(t, out, wt.wantThread()...)
	rdb, _ := testenv.Redis(t)
	keys, err := rdb.Keys(context.Background(), wt.prefix+"*").Result()
	if err != nil || len(keys) != 0 || wt.prefix == "" {
		t.Fatalf("after the demo, keys under %q: %v (%v)", wt.prefix, keys, err)
	}
}
