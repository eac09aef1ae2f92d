package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/redisstore"
)

const apikeyUsage = `usage:
  clonebot apikey create -config clonebot.yaml -name "nightly tests" -principal service:nightly-tests -scopes read,clone [-owner team-data] [-expires 90d]
  clonebot apikey list   -config clonebot.yaml
  clonebot apikey revoke -config clonebot.yaml <key id>
The key acts for its principal (a Slack user ID, or a service identity of the policy,
service:<name>) under the policy, within its scopes: read (backups, clones), clone (request,
change, destroy), admin (every principal's clones, for an admin principal). Its token is shown
once, by create, and kept only as a hash; keep it in the pipeline's secret store.
`

// runAPIKey implements `clonebot apikey create|list|revoke`: the admins' tools for the REST
// API's keys, on the Redis of the config.
func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, apikeyUsage)
		return fmt.Errorf("%w: clonebot apikey create|list|revoke", errUsage)
	}
	fs := flag.NewFlagSet("apikey "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, apikeyUsage) }
	configPath := fs.String("config", "clonebot.yaml", "config file (redis, policy)")
	var spec apikey.Spec
	var scopes, expires string
	if args[0] == "create" {
		fs.StringVar(&spec.Name, "name", "", "what the key is for")
		fs.StringVar(&spec.Principal, "principal", "", "who it acts for: a Slack user ID or service:<name>")
		fs.StringVar(&spec.Owner, "owner", "", "who answers for it (default: the principal)")
		fs.StringVar(&scopes, "scopes", "", "read, clone and/or admin, separated by commas")
		fs.StringVar(&expires, "expires", "", "it stops working this long from now (like 90d) or at a date (2026-12-31); default never")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := app.LoadConfig(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	open := func() (*redisstore.Keys, func(), error) {
		db, err := redisstore.Open(ctx, cfg.Redis.URL, cfg.Redis.Prefix, cfg.Redis.Cluster)
		if err != nil {
			return nil, nil, err
		}
		return db.Keys(), func() { db.Close() }, nil
	}
	now := time.Now().UTC()
	switch args[0] {
	case "create":
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: unexpected %q", errUsage, fs.Arg(0))
		}
		if err := specFromFlags(&spec, scopes, expires, cfg.PolicyPath(), now); err != nil {
			return err
		}
		keys, closeDB, err := open()
		if err != nil {
			return err
		}
		defer closeDB()
		return createKey(ctx, keys, spec, now, stdout)
	case "list":
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: unexpected %q", errUsage, fs.Arg(0))
		}
		keys, closeDB, err := open()
		if err != nil {
			return err
		}
		defer closeDB()
		return listKeys(ctx, keys, now, stdout)
	case "revoke":
		if fs.NArg() != 1 || !apikey.ValidID(fs.Arg(0)) {
			return fmt.Errorf("%w: clonebot apikey revoke -config clonebot.yaml <key id> (the ID column of clonebot apikey list)", errUsage)
		}
		keys, closeDB, err := open()
		if err != nil {
			return err
		}
		defer closeDB()
		k, err := keys.Revoke(ctx, fs.Arg(0), now)
		if errors.Is(err, apikey.ErrInvalid) {
			return fmt.Errorf("there is no API key %s; clonebot apikey list shows them", fs.Arg(0))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key %s (%s, for %s) revoked at %s; requests with it are refused from now on.\n",
			k.ID, k.Name, k.Principal, approvals.FormatTime(k.RevokedAt))
		return nil
	}
	fmt.Fprint(stderr, apikeyUsage)
	return fmt.Errorf("%w: unknown apikey command %q", errUsage, args[0])
}

// specFromFlags completes a key's spec from the flags: its scopes, its expiry, who makes it,
// and a principal the policy knows.
func specFromFlags(spec *apikey.Spec, scopes, expires, policyPath string, now time.Time) error {
	var err error
	if scopes == "" {
		return fmt.Errorf("%w: -scopes is required (read, clone, admin)", errUsage)
	}
	if spec.Scopes, err = apikey.ParseScopes(scopes); err != nil {
		return fmt.Errorf("-scopes: %w", err)
	}
	if expires != "" {
		if d, derr := command.ParseDuration(expires); derr == nil {
			spec.ExpiresAt = now.Add(d)
		} else if day, terr := time.Parse(time.DateOnly, expires); terr == nil {
			spec.ExpiresAt = day
		} else {
			return fmt.Errorf("-expires: %q is neither a duration (90d) nor a date (2026-12-31)", expires)
		}
	}
	policy, err := app.ReadPolicyFile(policyPath)
	if err != nil {
		return err
	}
	if err := checkPrincipal(policy, spec.Principal); err != nil {
		return err
	}
	spec.CreatedBy = "unknown"
	if u, err := user.Current(); err == nil {
		spec.CreatedBy = u.Username
	}
	return nil
}

// checkPrincipal refuses a principal that is neither a Slack user ID nor a service identity of
// the policy.
func checkPrincipal(p *approvals.Policy, principal string) error {
	if strings.HasPrefix(principal, approvals.ServicePrefix) {
		if _, ok := p.ServiceIdentity(principal); !ok {
			return fmt.Errorf("-principal: the policy has no service %q; its services: %s", strings.TrimPrefix(principal, approvals.ServicePrefix),
				strings.Join(serviceNames(p), ", "))
		}
		return nil
	}
	if len(principal) < 2 || strings.IndexFunc(principal, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) >= 0 {
		return fmt.Errorf("-principal: %q is neither a Slack user ID (like U0123ABCD) nor service:<name>", principal)
	}
	return nil
}

func serviceNames(p *approvals.Policy) []string {
	if len(p.Services) == 0 {
		return []string{"(none)"}
	}
	return slices.Sorted(maps.Keys(p.Services))
}

// createKey makes the key, stores its record and prints its token, once.
func createKey(ctx context.Context, keys *redisstore.Keys, spec apikey.Spec, now time.Time, stdout io.Writer) error {
	k, tok, err := apikey.New(spec, now)
	if err != nil {
		return err
	}
	if err := keys.Create(ctx, k); err != nil {
		return err
	}
	expires := "never"
	if !k.ExpiresAt.IsZero() {
		expires = approvals.FormatTime(k.ExpiresAt)
	}
	fmt.Fprintf(stdout, "API key %s (%s) for %s, owner %s, scopes %s, expires %s.\n", k.ID, k.Name, k.Principal, k.Owner, apikey.JoinScopes(k.Scopes), expires)
	fmt.Fprintf(stdout, "Its token, shown this once (clonebot keeps only its hash):\n\n%s\n\n", tok.Reveal())
	return nil
}

// listKeys prints every key, revoked and expired ones too; never a token.
func listKeys(ctx context.Context, keys *redisstore.Keys, now time.Time, stdout io.Writer) error {
	ks, err := keys.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPRINCIPAL\tOWNER\tSCOPES\tCREATED\tBY\tEXPIRES\tSTATE")
	for _, k := range ks {
		expires := "never"
		if !k.ExpiresAt.IsZero() {
			expires = approvals.FormatTime(k.ExpiresAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Principal, k.Owner, apikey.JoinScopes(k.Scopes),
			approvals.FormatTime(k.CreatedAt), k.CreatedBy, expires, k.State(now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d API key(s)\n", len(ks))
	return nil
}
