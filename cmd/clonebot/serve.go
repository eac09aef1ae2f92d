package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/clonebot/clonebot/app"
)

// runServe implements `clonebot serve -config clonebot.yaml`: the Slack bot, the lifecycle
// loop and the notifier. Any number of replicas may run; they share their state in Redis.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "serve", args, stdout, stderr, app.Options{Serve: true}, (*app.App).RunServe)
}

// runAgent implements `clonebot agent -config clonebot.yaml`: one restore agent.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "agent", args, stdout, stderr, app.Options{Agent: true}, (*app.App).RunAgent)
}

// runRole reads the config and runs one role of the app until ctx ends.
func runRole(ctx context.Context, name string, args []string, stdout, stderr io.Writer, opts app.Options, run func(*app.App, context.Context) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	configPath := fs.String("config", "clonebot.yaml", "config file")
	owner := fs.String("name", app.DefaultOwner(), "this process's name among the replicas and agents (unique per process)")
	if err := parseFlags(fs, "usage: clonebot "+name+" [-config clonebot.yaml] [-name NAME]", args, stdout, stderr); err != nil {
		return err
	}
	cfg, err := app.LoadConfig(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	opts.Owner = *owner
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	return run(a, ctx)
}
