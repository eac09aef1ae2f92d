package main

import (
	"context"
	"flag"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/internal/demo"
)

// runDemo implements `clonebot demo`: the whole flow on this machine (internal/demo). It uses
// the Redis of CLONEBOT_REDIS_URL and the PostgreSQL of CLONEBOT_DEMO_POSTGRES_URL when set.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	users := fs.Int("users", 100000, "rows of the sample users table (two payments each)")
	logLevel := fs.String("log-level", "warn", "level of clonebot's own JSON logs on stderr")
	if err := parseFlags(fs, "usage: clonebot demo [-users N] [-log-level warn]\n\nThe whole flow on this machine; CLONEBOT_REDIS_URL and CLONEBOT_DEMO_POSTGRES_URL use your own services.", args, stdout, stderr); err != nil {
		return err
	}
	opts := demo.OptionsFromEnv(os.Getenv)
	opts.Users = *users
	log, err := app.NewLogger(*logLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	opts.Logger = log.With(zap.String("run", "demo"))
	return demo.Run(ctx, opts, stdout)
}
