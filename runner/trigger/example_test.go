package trigger_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/runner/trigger"
)

// A `run --listen 127.0.0.1:8080 --every "*/15 * * * *"`: the RunFunc
// makes one run; the Server decides when, until SIGTERM.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := trigger.New(trigger.Options{
		Every:         "*/15 * * * *",
		Listen:        "127.0.0.1:8080",
		TokenFile:     "/etc/apkfarm/hook-token",
		Branches:      []string{"master"},
		MaxBody:       4 << 20,
		OnStop:        trigger.OnStopCancel,
		HealthzMaxAge: 2 * time.Hour,
		StateDir:      "/var/lib/apkfarm",
		Logger:        logger,
	}, func(ctx context.Context, req trigger.Request) trigger.Outcome {
		logger.Info("one run", "kind", req.Kind, "detail", req.Detail, "only", req.Only)
		return trigger.Outcome{ExitCode: 0}
	})
	if err != nil {
		logger.Error("start", "err", err)
		return
	}
	if err := srv.Serve(ctx); err != nil {
		logger.Error("serve", "err", err)
	}
}
