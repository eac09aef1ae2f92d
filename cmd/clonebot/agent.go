package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/provisioner"
)

// runAgent implements `clonebot agent -config clonebot.yaml`: one restore agent.
func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	configPath := fs.String("config", "clonebot.yaml", "config file")
	consumer := fs.String("consumer", defaultConsumer(), "this agent's name in the consumer group (unique per agent)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// step 1: configuration, logger, Redis.
	proc, err := start(ctx, *configPath, nil)
	if err != nil {
		return err
	}
	defer proc.Close()
	cfg, log, rdb := proc.cfg, proc.log, proc.rdb

	// step 2: masking rules and key; the key is never logged.
	rules, err := mask.LoadRules(cfg.path(cfg.Masking.Rules))
	if err != nil {
		return err
	}
	key := os.Getenv(cfg.Masking.KeyEnv)
	if len(key) < mask.MinKeyLen {
		return fmt.Errorf("masking key: set %s to at least %d bytes", cfg.Masking.KeyEnv, mask.MinKeyLen)
	}

	// step 3: the secret stores that resolve targets, and S3 for backups.
	be, err := newBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	deps := agent.Deps{
		Queue:   agent.NewQueue(rdb, cfg.Redis.Prefix, agent.DefaultGroup),
		Secrets: be.secrets,
		Rules:   rules,
		MaskKey: provisioner.NewPassword(key),
		Log:     log,
	}
	if be.aws != nil {
		deps.S3 = be.aws.S3
	}

	// step 4: run until stopped.
	a, err := agent.New(cfg.agentConfig(*consumer), deps)
	if err != nil {
		return err
	}
	log.Info("agent started", zap.String("consumer", *consumer))
	return a.Run(ctx)
}

// defaultConsumer is hostname-pid: unique per agent process.
func defaultConsumer() string {
	h, err := os.Hostname()
	if err != nil {
		h = "agent"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}
