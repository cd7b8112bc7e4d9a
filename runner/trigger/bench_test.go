package trigger

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// BenchmarkHookToRun: a GitLab push over real HTTP on 127.0.0.1 until the
// RunFunc is called (the part of "push hook → package on the mirrors"
// that is this package's), then until the Server has recorded the run's
// end. ns/op is one push's whole round; start-ns/op is from the request
// being sent to the RunFunc being called.
func BenchmarkHookToRun(b *testing.B) {
	opts := Options{
		Listen: "127.0.0.1:0", TokenFile: writeToken(b, testToken), Branches: []string{"master"},
		MaxBody: 1 << 20, OnStop: OnStopFinish, Logger: slog.New(slog.DiscardHandler),
	}
	called := make(chan time.Time, 1)
	s, err := New(opts, func(ctx context.Context, req Request) Outcome {
		called <- time.Now()
		return Outcome{}
	})
	if err != nil {
		b.Fatal(err)
	}
	ended := make(chan struct{}, 1)
	s.hooks.runEnded = func(Outcome) { ended <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	defer func() { cancel(); <-served }()

	url := "http://" + s.Addr().String() + "/hook/gitlab"
	body := pushBody("master", "alice", "7c41e0b9d2a35f6e8c1b4d7a0e3f6c9b2d5a8e1f")
	client := &http.Client{}
	var toStart time.Duration
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set(TokenHeader, testToken)
		sent := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("push: %s", resp.Status)
		}
		toStart += (<-called).Sub(sent)
		<-ended
	}
	b.ReportMetric(float64(toStart.Nanoseconds())/float64(b.N), "start-ns/op")
}
