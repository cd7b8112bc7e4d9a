package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/state"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeHookRun: `run --listen` makes a whole run when POST /hook/run
// arrives with the token, records it with its trigger, answers /healthz,
// refuses a wrong token, and stops on its context.
func TestServeHookRun(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(tree, 0o755) // an empty tree: the run builds nothing, publishes an empty index
	k, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := apk.WriteKeyPair(dir, "farm-00000001", k)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(keys, 0o755)
	b, _ := os.ReadFile(pub)
	os.WriteFile(filepath.Join(keys, filepath.Base(pub)), b, 0o644)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "apkfarm.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`arches = ["x86_64"]
[source]
path = %q
[publish]
dir = %q
keys = %q
[state]
dir = %q
[build]
image = "unused"
[signer]
keys = [%q]
[trigger]
token_file = %q
`, tree, filepath.Join(dir, "repo"), keys, stateDir, priv, token)), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, []string{"--config", cfg, "--listen", "127.0.0.1:0"}, out, out) }()
	var addr string
	re := regexp.MustCompile(`listen=(127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no listener address logged:\n%s", out.String())
	}
	post := func(tok string) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/hook/run", nil)
		req.Header.Set("X-Gitlab-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != http.StatusForbidden {
		t.Errorf("wrong token: %d, want 403", code)
	}
	if code := post("s3cret"); code != http.StatusAccepted {
		t.Errorf("right token: %d, want 202", code)
	}
	var runs []*state.Run
	for deadline := time.Now().Add(60 * time.Second); len(runs) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		runs, _ = state.ReadRuns(stateDir, 0)
	}
	if len(runs) != 1 || runs[0].Trigger.Kind != state.TriggerHook || runs[0].Result != state.RunOK {
		t.Fatalf("run records %+v\n%s", runs, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "repo", "x86_64", "APKINDEX.tar.gz")); err != nil {
		t.Errorf("the run published no index: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited %d\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
