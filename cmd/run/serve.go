package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/trigger"
	"github.com/apkfarm/apkfarm/state"
)

// serve keeps `run` up (run --every, run --listen): the trigger server
// decides when runs happen, one at a time, and each is a whole pass with
// the configuration read anew, so that an edited file takes effect at the
// next run without a restart. Everything logs to stdout, for the journal.
// It returns when ctx ends (SIGTERM): 0, or 2 when the listener failed or
// the configuration could not be used.
func serve(ctx context.Context, configPath string, cfg *config.Config, base runOptions, every, listen string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	runOnce := func(ctx context.Context, req trigger.Request) trigger.Outcome {
		c, err := loadConfig(configPath)
		if err != nil {
			logger.Error("configuration unusable; run not made", "err", err)
			return trigger.Outcome{ExitCode: exitTrouble, Result: state.RunTrouble}
		}
		opts := base
		opts.trigger = state.Trigger{Kind: req.Kind, Detail: req.Detail}
		if len(req.Only) > 0 {
			opts.only = req.Only
		}
		code := passAll(ctx, c, opts, stdout, stdout, logger)
		return trigger.Outcome{ExitCode: code, Result: resultOf(ctx, code)}
	}
	srv, err := trigger.New(trigger.Options{
		Every: every, Listen: listen, TokenFile: cfg.Trigger.TokenFile, Branches: cfg.Trigger.Branches,
		MaxBody: int64(cfg.Trigger.MaxBody), OnStop: cfg.Trigger.OnStop,
		HealthzMaxAge: time.Duration(cfg.Trigger.HealthzMaxAge), StateDir: cfg.State.Dir, Logger: logger,
	}, runOnce)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v (the [trigger] section, --every, --listen)\n", err)
		return exitTrouble
	}
	addr := ""
	if a := srv.Addr(); a != nil {
		addr = a.String()
	}
	logger.Info("waiting for runs", "every", every, "listen", addr)
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	return exitOK
}

// resultOf names how a run ended from its exit code.
func resultOf(ctx context.Context, code int) string {
	switch {
	case code == exitOK:
		return state.RunOK
	case code == exitFailed:
		return state.RunFailed
	case ctx.Err() != nil:
		return state.RunInterrupted
	default:
		return state.RunTrouble
	}
}
