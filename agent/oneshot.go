package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// OneShot is one restore outside the job queue: clonebot restore, for a developer restoring a
// masked copy on a laptop or someone checking a backup by hand. Formats, masking, the gate and
// the failures are the agent's.
type OneShot struct {
	Backup string // a local file
	// Target is a PostgreSQL URL of an existing database, whose contents are replaced
	// (postgres://user:password@host:port/database?sslmode=...).
	Target      string
	Rules       *mask.Rules // the rules of Level
	Level       string
	Key         provisioner.Password // the masking key, when a rule of the level needs one
	Parallelism int                  // connections; DefaultConfig's when 0
	WorkDir     string
	Log         *zap.Logger
	Progress    func(jobs.Event) // called on each phase change and progress step; may be nil
	Now         func() time.Time // time.Now when nil
}

// RestoreOnce restores o.Backup into o.Target, masked at o.Level and verified, once: a
// failure is not retried. Refusals (unclassified columns, large objects, a backup that is
// truncated, corrupt or of a format the agent does not read, a gate hit, ...) are returned as
// a *Failure whose Reason says what to do, and leave the target empty.
func RestoreOnce(ctx context.Context, o OneShot) error {
	creds, sslmode, err := TargetFromURL(o.Target)
	if err != nil {
		return err
	}
	if o.Rules == nil {
		return errors.New("restore: no masking rules")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := DefaultConfig("restore")
	cfg.SSLMode, cfg.WorkDir = sslmode, o.WorkDir
	if o.Parallelism > 0 {
		cfg.Parallelism = o.Parallelism
	}
	progress := func(context.Context, jobs.Event) error { return nil }
	if o.Progress != nil {
		progress = func(_ context.Context, e jobs.Event) error { o.Progress(e); return nil }
	}
	job := jobs.Job{RequestID: "restore", Attempt: 1}
	x := attempt{
		cfg: cfg, rules: o.Rules, key: []byte(o.Key.Reveal()), log: o.Log,
		progress: &reporter{ctx: ctx, publish: progress, log: o.Log, now: o.Now, job: job, attempts: 1},
		backup:   jobs.BackupRef{Location: o.Backup}, strategy: provisioner.StrategyRestore, level: o.Level,
	}
	return x.run(ctx, creds)
}

// TargetFromURL reads the credentials and sslmode (prefer when absent) of a PostgreSQL URL.
// Its errors never quote the URL, which may hold a password.
func TargetFromURL(u string) (provisioner.Credentials, string, error) {
	bad := errors.New("target: want a URL such as postgres://user:password@host:5432/database")
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") || p.Host == "" || len(p.Path) < 2 {
		return provisioner.Credentials{}, "", bad
	}
	host, portText, err := net.SplitHostPort(p.Host)
	if err != nil {
		host, portText = p.Host, "5432"
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return provisioner.Credentials{}, "", fmt.Errorf("target: port %q is not a port number", portText)
	}
	pw, _ := p.User.Password()
	sslmode := p.Query().Get("sslmode")
	if sslmode == "" {
		sslmode = "prefer"
	}
	return provisioner.Credentials{Engine: "postgres", Host: host, Port: port, Username: p.User.Username(),
		Password: provisioner.NewPassword(pw), DBName: strings.TrimPrefix(p.Path, "/")}, sslmode, nil
}
