package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

const restoreUsage = "clonebot restore <backup> -target postgres://user:password@host/db [-rules masking.yaml] [-level full] [-j 2]"

// runRestore implements `clonebot restore`: the agent's restore of one backup into one
// database, once, without Redis or Slack; masked, verified, and refused as the agent would.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "PostgreSQL URL of the database to restore into; its contents are replaced")
	rulesPath := fs.String("rules", "", "masking rules file (required unless -level none)")
	level := fs.String("level", "full", "masking level")
	conns := fs.Int("j", 2, "connections")
	keyEnv := fs.String("key-env", app.EnvMaskingKey, "environment variable holding the masking key")
	workDir := fs.String("work-dir", "", "folder for temporary files (the system's by default)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *target == "" || *conns < 1 {
		return fmt.Errorf("%w: %s", errUsage, restoreUsage)
	}
	// step 1: rules and key.
	var rules *mask.Rules
	switch {
	case *rulesPath != "":
		if rules, err = mask.LoadRules(*rulesPath); err != nil {
			return err
		}
	case *level == mask.LevelNone:
		rules = mask.EmptyRules(mask.LevelNone)
	default:
		return fmt.Errorf("%w: masking level %s needs -rules (or -level none for an unmasked copy)", errUsage, *level)
	}
	profile, err := rules.Profile(*level)
	if err != nil {
		return err
	}
	key := os.Getenv(*keyEnv)
	if profile.NeedsKey() && len(key) < mask.MinKeyLen {
		return fmt.Errorf("masking key: set %s to at least %d bytes", *keyEnv, mask.MinKeyLen)
	}
	creds, _, err := agent.TargetFromURL(*target)
	if err != nil {
		return err
	}
	// step 2: the restore, its phases on stderr.
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.AddSync(stderr), zapcore.WarnLevel))
	var phase jobs.Phase
	err = agent.RestoreOnce(ctx, agent.OneShot{
		Backup: pos[0], Target: *target, Rules: rules, Level: *level, Key: provisioner.NewPassword(key),
		Parallelism: *conns, WorkDir: *workDir, Log: log,
		Progress: func(e jobs.Event) {
			if e.Phase != phase {
				phase = e.Phase
				fmt.Fprintf(stderr, "restore: %s\n", phase)
			}
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s:%d/%s, masking level %s, verified\n", pos[0], creds.Host, creds.Port, creds.DBName, *level)
	return nil
}
