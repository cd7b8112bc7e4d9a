package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

const testToken = "s3cret-token"

// writeToken writes a token file with mode 0600 and returns its path.
func writeToken(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook-token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeRun is a RunFunc that reports each call on started and returns when
// the test sends on release (ok) or when its context ends (interrupted).
type fakeRun struct {
	started  chan Request
	release  chan struct{}
	ctxs     chan context.Context // the context of each call
	calls    atomic.Int32
	inflight atomic.Int32
	maxIn    atomic.Int32
}

func newFakeRun() *fakeRun {
	return &fakeRun{started: make(chan Request, 16), release: make(chan struct{}), ctxs: make(chan context.Context, 16)}
}

func (f *fakeRun) run(ctx context.Context, req Request) Outcome {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	f.calls.Add(1)
	f.ctxs <- ctx
	f.started <- req
	select {
	case <-f.release:
		return Outcome{Result: state.RunOK}
	case <-ctx.Done():
		return Outcome{ExitCode: 2, Result: state.RunInterrupted}
	}
}

// logBuffer collects the server's log lines, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// harness is a Server under test, served until the test ends.
type harness struct {
	t       *testing.T
	s       *Server
	url     string
	log     *logBuffer
	ended   chan Outcome
	cancel  context.CancelFunc
	served  chan error
	stopped chan struct{} // closed by the stopping hook
}

// options are the defaults of a listening test server.
func listenOptions(t *testing.T) Options {
	return Options{
		Listen:    "127.0.0.1:0",
		TokenFile: writeToken(t, testToken+"\n"),
		Branches:  []string{"master"},
		MaxBody:   64 << 10,
		OnStop:    OnStopFinish,
	}
}

// serve makes a Server of opts and run, lets setup adjust it, and serves
// it until the test ends (or h.stop).
func serve(t *testing.T, opts Options, run RunFunc, setup func(*Server)) *harness {
	t.Helper()
	h := &harness{t: t, log: &logBuffer{}, ended: make(chan Outcome, 16), served: make(chan error, 1), stopped: make(chan struct{})}
	opts.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(h.log, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(opts, run)
	if err != nil {
		t.Fatal(err)
	}
	s.hooks.runEnded = func(o Outcome) { h.ended <- o }
	s.hooks.stopping = func() { close(h.stopped) }
	if setup != nil {
		setup(s)
	}
	h.s = s
	if a := s.Addr(); a != nil {
		h.url = "http://" + a.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.served:
		case <-time.After(time.Minute):
			t.Error("Serve did not return within a minute of its context ending")
		}
	})
	return h
}

// post sends body to path with token (none when token is "") and returns
// the status code and the decoded reply.
func (h *harness) post(path, token string, body []byte) (int, reply) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, reply) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatalf("%s %s: %d, body %q is not a JSON reply: %v", req.Method, req.URL.Path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, r
}

// pushBody is a GitLab push event to branch by user.
func pushBody(branch, user, sha string) []byte {
	ev := map[string]any{
		"object_kind":         "push",
		"event_name":          "push",
		"before":              "95790bf891e76fee5e1747ab589903a6a1f80f22",
		"after":               sha,
		"ref":                 "refs/heads/" + branch,
		"checkout_sha":        sha,
		"user_username":       user,
		"total_commits_count": 1,
		"project":             map[string]any{"path_with_namespace": "postmarketOS/pmaports"},
		"commits":             []map[string]any{{"id": sha, "message": "hello: upgrade to 2.12"}},
	}
	b, _ := json.Marshal(ev)
	return b
}

// recv takes one value from c, failing the test when none comes within
// a minute (a deadlock, not a timing assumption).
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
		var zero T
		return zero
	}
}
