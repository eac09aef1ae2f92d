package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/deploy"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/provisioner/local"
	"github.com/clonebot/clonebot/redisstore"
)

// Options say which services the demo uses; the zero value needs nothing configured.
type Options struct {
	RedisURL    string      // a Redis to use (CLONEBOT_REDIS_URL); "" starts an embedded one
	PostgresURL string      // a server role with CREATEDB and CREATEROLE (CLONEBOT_DEMO_POSTGRES_URL); "" starts a throwaway server
	Users       int         // rows of the sample users table (two payments each); 0 is 100000
	Start       time.Time   // where the demo clock starts; zero is now
	Logger      *zap.Logger // clonebot's own logs; nil discards them

	hooks *hooks // tests look at the world at two points
}

// hooks let the package's tests inspect the running demo.
type hooks struct {
	ready     func(w *world, creds provisioner.Credentials) // the clone is ready and was queried
	destroyed func(w *world, r *approvals.Request)          // the clone was destroyed; nothing cleaned up yet
}

// OptionsFromEnv reads the services from CLONEBOT_REDIS_URL and CLONEBOT_DEMO_POSTGRES_URL.
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{RedisURL: strings.TrimSpace(getenv("CLONEBOT_REDIS_URL")), PostgresURL: strings.TrimSpace(getenv("CLONEBOT_DEMO_POSTGRES_URL"))}
}

// The demo's Slack workspace.
const (
	requestChannel  = "C0REQUESTS"
	securityChannel = "C0SECURITY"
	incidentChannel = "C0INC4411"
	developer       = "U0DANA" // asks for a staging clone
	lead            = "U0LEE"  // approves it; denies another
	oncall          = "U0OMAR" // on call: asks for a debug clone, takes a break-glass one
	peer            = "U0KIM"  // on call too: the debug tier's first approver
	security        = "U0SAM"  // security: the second approver, alerted, reviews the break-glass
)

// world is everything the demo wired.
type world struct {
	out     io.Writer
	clock   *fakes.Clock
	redis   *redisEnv
	pg      *pgEnv
	sample  *sample
	fake    *slackfake.Server
	thread  *thread
	app     *app.App // clonebot itself, both roles, as serve and agent build it
	store   *redisstore.Store
	maskKey provisioner.Password
	prov    *local.Provisioner
	secrets *local.SecretStore
	seen    map[string]bool // requests already found by newest
}

// Run runs the whole flow and prints the Slack thread to out. It returns an error, having
// cleaned up everything it started, if any step does not do what it should.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	if opts.Users <= 0 {
		opts.Users = 100000
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now()
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var cl cleanups
	defer func() { cl.run() }()
	w := &world{out: out, clock: fakes.NewClock(opts.Start.UTC().Truncate(time.Second)), seen: map[string]bool{}}

	// step 1: the services, and a sample "prod" database with yesterday's backup.
	if err := w.services(ctx, opts, &cl); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "clonebot-demo-")
	if err != nil {
		return err
	}
	cl.add(func() { os.RemoveAll(dir) })
	backups := filepath.Join(dir, "backups")
	day := w.clock.Now().Add(-24 * time.Hour).Truncate(24 * time.Hour)
	if w.sample, err = makeSample(ctx, w.pg, backups, day, opts.Users, &cl); err != nil {
		return err
	}
	w.say("sample source \"prod\": %d users, %d payments (names, emails, SSNs, phones, card numbers); backup %s",
		opts.Users, 2*opts.Users, strings.TrimPrefix(w.sample.dump, dir+"/"))

	// step 2: clonebot itself, wired as cmd/clonebot wires it, with the offline Slack.
	if err := w.wire(ctx, backups, filepath.Join(dir, "secrets"), log, &cl); err != nil {
		return err
	}

	// step 3: the scheduled golden copy is built; the developer asks; the lead approves; the
	// clone is made and restored, masked.
	if err := w.goldenCopy(ctx); err != nil {
		return err
	}
	asked := time.Now()
	r, err := w.request(ctx)
	if err != nil {
		return err
	}
	cl.add(func() { w.destroyAll(context.WithoutCancel(ctx)) }) // no-ops once the lifecycle destroyed them
	if r, err = w.approve(ctx, r); err != nil {
		return err
	}
	if r, err = w.untilReady(ctx, r, "the lifecycle provisions the clone; the restore agent loads yesterday's backup, masking while loading"); err != nil {
		return err
	}
	restored := time.Since(asked)

	// step 4: the developer uses the clone with its own credentials.
	creds, err := w.query(ctx, r)
	if err != nil {
		return err
	}
	if opts.hooks != nil {
		opts.hooks.ready(w, creds)
	}

	// step 5: meanwhile: a thin copy of the golden copy, a debug clone with two approvers, a
	// denial, a break-glass and its review.
	if err := w.thinCopy(ctx, restored); err != nil {
		return err
	}
	if err := w.dual(ctx); err != nil {
		return err
	}
	if err := w.deny(ctx); err != nil {
		return err
	}
	if err := w.breakGlass(ctx); err != nil {
		return err
	}

	// step 6: time passes: the TTL warning, the Extend button, the last warning, the expiry.
	if r, err = w.warnAndExtend(ctx, r); err != nil {
		return err
	}
	if r, err = w.expire(ctx, r); err != nil {
		return err
	}

	// step 7: proof the clone is gone, and the audit log of it all.
	if err := w.gone(ctx, r, creds); err != nil {
		return err
	}
	if opts.hooks != nil {
		opts.hooks.destroyed(w, r)
	}
	return w.audited(ctx)
}

// destroyAll destroys every clone the demo's requests made, when a step failed half-way.
func (w *world) destroyAll(ctx context.Context) {
	for id := range w.seen {
		_ = w.prov.Destroy(ctx, id)
	}
}

// say prints a narration line, stamped with the demo clock.
func (w *world) say(format string, args ...any) {
	fmt.Fprintf(w.out, "\n── %s · %s\n", approvals.FormatTime(w.clock.Now()), fmt.Sprintf(format, args...))
}

func (w *world) services(ctx context.Context, opts Options, cl *cleanups) error {
	var err error
	if w.redis, err = startRedis(ctx, opts.RedisURL, cl); err != nil {
		return err
	}
	if w.pg, err = startPostgres(ctx, opts.PostgresURL, cl); err != nil {
		return err
	}
	w.say("clonebot demo: %s; %s; Slack is an offline stand-in", w.redis.about, w.pg.about)
	return nil
}

// wire builds the offline Slack workspace and clonebot's parts on it.
func (w *world) wire(ctx context.Context, backups, secretsDir string, log *zap.Logger, cl *cleanups) error {
	// step 1: the workspace: a developer, a lead, their groups and channels.
	w.fake = slackfake.New()
	cl.add(w.fake.Close)
	w.thread = newThread(w.out, w.fake)
	for id, name := range map[string]string{developer: "dana", lead: "lee", oncall: "omar", peer: "kim", security: "sam"} {
		u := slack.User{ID: id, Name: name, RealName: name}
		u.Profile.DisplayName = name
		w.fake.AddUser(u)
		w.thread.names[id] = "@" + name
	}
	for _, g := range []struct {
		id, handle string
		members    []string
	}{
		{"S0DEV", "developers", []string{developer}}, {"S0SENIOR", "senior-developers", []string{developer}},
		{"S0TEAM", "team-payments", []string{developer, oncall}}, {"S0LEADS", "leads", []string{lead}},
		{"S0ONCALL", "oncall", []string{oncall, peer}}, {"S0SEC", "security", []string{security}},
	} {
		w.fake.AddUserGroup(g.id, g.handle, g.members...)
		w.thread.names[g.id] = "@" + g.handle
	}
	for id, name := range map[string]string{requestChannel: "clone-requests", securityChannel: "security-alerts",
		"C0GENERAL": "general", incidentChannel: "inc-4411"} {
		w.fake.AddChannel(id, name)
		w.thread.names[id] = "#" + name
	}

	// step 2: policy, masking rules and a masking key made for this run.
	policy, err := demoPolicy(backups)
	if err != nil {
		return fmt.Errorf("demo policy: %w", err)
	}
	rules, err := mask.ParseRules(deploy.MaskingExample)
	if err != nil {
		return fmt.Errorf("demo masking rules: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	w.maskKey = provisioner.NewPassword(hex.EncodeToString(key))

	// step 3: the local backend on the demo's server.
	localCfg := local.Config{AdminURL: w.pg.adminURL, Host: w.pg.host, Port: w.pg.port, SecretsDir: secretsDir,
		Backups: backups + "/{source}/{date}/", Sources: map[string]local.SourceConfig{"prod": {Strategy: provisioner.StrategyRestore}}}
	if w.prov, err = local.New(localCfg, log.Named("local")); err != nil {
		return err
	}
	w.secrets = w.prov.SecretStore()
	cat, err := local.NewCatalogue(localCfg, w.clock.Now)
	if err != nil {
		return err
	}
	backends := provisioner.Backends{"prod": {Provisioner: w.prov, Catalogue: cat, Strategy: provisioner.StrategyRestore}}

	// step 4: clonebot, both roles, built by the constructor serve and agent use, on the demo
	// clock (the restore itself takes real time: its progress shows real rates).
	cfg := app.DefaultConfig()
	cfg.Redis.Prefix = w.redis.prefix
	auditDB, err := w.pg.createDatabase(ctx, "demo_audit_", cl)
	if err != nil {
		return err
	}
	cfg.Audit.URL = testenv.WithDatabase(w.pg.superURL, auditDB)
	cfg.Slack.APIURL, cfg.Slack.BotToken = w.fake.APIURL(), "xoxb-demo"
	cfg.Agent.Block, cfg.Agent.SSLMode = 100*time.Millisecond, "disable"
	w.app, err = app.New(ctx, cfg, app.Options{Serve: true, Agent: true, Logger: log, Clock: w.clock, Owner: "demo",
		DB: w.redis.db, Policy: policy, Backends: backends, Secrets: w.secrets, Rules: rules, MaskKey: w.maskKey})
	if err != nil {
		return err
	}
	cl.add(w.app.Close)
	w.store = w.app.Store
	return nil
}

// flush sends what clonebot recorded to say, and prints what Slack shows.
func (w *world) flush(ctx context.Context) {
	if err := w.app.Notifier.Flush(ctx); err != nil {
		fmt.Fprintf(w.out, "(some notices could not be sent yet: %v)\n", err)
	}
	w.thread.flush()
}

// command is a slash command typed by user; it prints what Slack shows afterwards.
func (w *world) command(ctx context.Context, user, channel, text string) {
	fmt.Fprintf(w.out, "%-20s /clone %s\n", w.thread.name(user)+" types", text)
	cmd := w.fake.SlashCommand(user, channel, text)
	w.thread.answerTo[cmd.ResponseURL] = user
	w.app.Bot.Command(ctx, cmd)
	w.flush(ctx)
}

// click is user pressing a button of the request's card or thread.
func (w *world) click(ctx context.Context, user string, r *approvals.Request, action, label string) {
	w.press(ctx, user, r.Channel, r.MessageTS, r.ID, action, label)
}

// press is user pressing the button action (value id, label) of the message at ts in channel.
func (w *world) press(ctx context.Context, user, channel, ts, id, action, label string) {
	fmt.Fprintf(w.out, "%-20s [%s]\n", w.thread.name(user)+" clicks", label)
	cb := w.fake.BlockAction(user, channel, ts, action, id)
	w.thread.answerTo[cb.ResponseURL], w.thread.viewer[cb.TriggerID] = user, user
	w.app.Bot.Interaction(ctx, cb)
	w.flush(ctx)
}

// openHome is user opening clonebot's App Home tab (an app_home_opened event); it prints
// the view the bot published.
func (w *world) openHome(ctx context.Context, user string) error {
	fmt.Fprintf(w.out, "%-20s the clonebot App Home\n", w.thread.name(user)+" opens")
	body := slackfake.EventBody("Ev"+user+w.clock.Now().Format("150405"), slackfake.AppHomeOpened(user))
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		return fmt.Errorf("app_home_opened event: %w", err)
	}
	w.app.Bot.Event(ctx, ev)
	w.flush(ctx)
	return w.thread.home(user)
}

// tick runs one lifecycle pass and prints what it said in Slack.
func (w *world) tick(ctx context.Context, id string) (*approvals.Request, error) {
	if err := w.app.Lifecycle.Tick(ctx); err != nil {
		return nil, fmt.Errorf("lifecycle pass: %w", err)
	}
	w.flush(ctx)
	return w.store.Get(ctx, id)
}

// advance moves the demo clock (and an embedded Redis's, for key expiry) to t.
func (w *world) advance(t time.Time) {
	if d := w.clock.AdvanceTo(t); d > 0 && w.redis.mini != nil {
		w.redis.mini.FastForward(d)
	}
}

func (w *world) request(ctx context.Context) (*approvals.Request, error) {
	w.say("dana needs realistic data to reproduce a payments bug")
	w.command(ctx, developer, "C0GENERAL", fmt.Sprintf(`prod %s tier=staging reason="reproduce PAY-812 refund rounding"`, w.sample.date.Format(time.DateOnly)))
	r, err := w.newest(ctx, developer)
	if err != nil {
		return nil, err
	}
	return w.want(ctx, r.ID, approvals.StatusPending, "the request")
}

func (w *world) approve(ctx context.Context, r *approvals.Request) (*approvals.Request, error) {
	w.say("the staging tier needs one approver: lee (a lead) sees the request in the App Home and on the card")
	if err := w.openHome(ctx, lead); err != nil {
		return nil, err
	}
	w.click(ctx, lead, r, render.ActionApprove, "Approve")
	return w.want(ctx, r.ID, approvals.StatusApproved, "the approval")
}

// untilReady drives the lifecycle and the agent until the clone is ready.
func (w *world) untilReady(ctx context.Context, r *approvals.Request, narration string) (*approvals.Request, error) {
	w.say("%s", narration)
	for pass := 0; pass < 10; pass++ {
		var err error
		if r, err = w.tick(ctx, r.ID); err != nil {
			return nil, err
		}
		switch r.Status {
		case approvals.StatusReady:
			return r, nil
		case approvals.StatusFailed, approvals.StatusDestroying, approvals.StatusDestroyed:
			return nil, fmt.Errorf("request %s is %s: %s", r.ID, r.Status, r.Failure)
		case approvals.StatusRestoring:
			if err := w.restore(ctx); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("request %s is still %s after 10 lifecycle passes (the agent's and the lifecycle's logs say why)", r.ID, r.Status)
}

func (w *world) warnAndExtend(ctx context.Context, r *approvals.Request) (*approvals.Request, error) {
	w.advance(r.ExpiresAt.Add(-time.Hour))
	w.say("dana has worked with the clone all day (the demo clock jumped ahead): an hour before it expires")
	r, err := w.tick(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if !w.posted("", "will be destroyed in") {
		return nil, errors.New("no TTL warning an hour before expiry")
	}
	before := r.ExpiresAt
	w.say("dana needs another hour")
	w.click(ctx, developer, r, render.ActionExtend, "Extend "+approvals.FormatDuration(render.ExtendBy))
	if r, err = w.tick(ctx, r.ID); err != nil {
		return nil, err
	}
	if !r.ExpiresAt.After(before) {
		return nil, fmt.Errorf("the extension did not move the expiry (%s)", r.ExpiresAt)
	}
	return r, nil
}

func (w *world) expire(ctx context.Context, r *approvals.Request) (*approvals.Request, error) {
	w.advance(r.ExpiresAt.Add(-10 * time.Minute))
	w.say("ten minutes before the new expiry")
	r, err := w.tick(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	w.advance(r.ExpiresAt.Add(time.Second))
	w.say("the clone's time is up")
	return w.untilGone(ctx, r.ID)
}

// restore runs the agent once, and moves the demo clock by the real time the restore took, so
// build times, times to ready and the report's figures are the real ones.
func (w *world) restore(ctx context.Context) error {
	start := time.Now()
	if _, err := w.app.Agent.RunOnce(ctx); err != nil {
		return fmt.Errorf("restore agent: %w", err)
	}
	w.advance(w.clock.Now().Add(time.Since(start).Round(time.Second)))
	return nil
}

// posted reports whether a message the bot sent to channel ("": any) contains s, in its text
// or its blocks.
func (w *world) posted(channel, s string) bool {
	for _, m := range w.fake.Messages() {
		if (channel == "" || m.Channel == channel) && (strings.Contains(m.Text, s) || strings.Contains(string(m.Blocks), s)) {
			return true
		}
	}
	return false
}

// demoPolicy is deploy/policy.example.yaml with the demo workspace's channels and the sample
// backups folder.
func demoPolicy(backups string) (*approvals.Policy, error) {
	p, err := approvals.ParsePolicy(deploy.PolicyExample)
	if err != nil {
		return nil, err
	}
	p.RequestChannel, p.SecurityChannel = requestChannel, securityChannel
	src := p.Sources["prod"]
	src.Backups = backups + "/{source}/{date}/"
	p.Sources["prod"] = src
	return p, p.Validate()
}
