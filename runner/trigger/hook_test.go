package trigger

import (
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/apkfarm/apkfarm/state"
)

// TestHookRefusals: a missing or wrong token, a huge body (declared or
// streamed), garbage, and pushes that are not to a configured branch are
// answered as documented and start no run.
func TestHookRefusals(t *testing.T) {
	fr := newFakeRun()
	opts := listenOptions(t)
	opts.MaxBody = 1024
	h := serve(t, opts, fr.run, nil)
	huge := bytes.Repeat([]byte("x"), 4096)
	tests := []struct {
		name   string
		path   string
		token  string
		body   []byte
		stream bool // send without Content-Length
		code   int
		status string
		errSub string
	}{
		{name: "no token", path: "/hook/gitlab", body: pushBody("master", "alice", "1a2b3c"), code: 401, errSub: "missing X-Gitlab-Token"},
		{name: "wrong token", path: "/hook/gitlab", token: "guess", body: pushBody("master", "alice", "1a2b3c"), code: 403, errSub: "wrong token"},
		{name: "token prefix", path: "/hook/gitlab", token: testToken[:5], body: pushBody("master", "alice", "1a2b3c"), code: 403},
		{name: "token with suffix", path: "/hook/gitlab", token: testToken + "x", body: pushBody("master", "alice", "1a2b3c"), code: 403},
		{name: "wrong token on run", path: "/hook/run?only=hello", token: "guess", code: 403},
		{name: "huge body declared", path: "/hook/gitlab", token: testToken, body: huge, code: 413, errSub: "trigger.max_body"},
		{name: "huge body streamed", path: "/hook/gitlab", token: testToken, body: huge, stream: true, code: 413},
		{name: "huge body on run", path: "/hook/run", token: testToken, body: huge, code: 413},
		{name: "garbage", path: "/hook/gitlab", token: testToken, body: []byte("\x00\xffnot json"), code: 400, errSub: "parse push event"},
		{name: "truncated json", path: "/hook/gitlab", token: testToken, body: pushBody("master", "alice", "1a2b3c")[:40], code: 400},
		{name: "not an event", path: "/hook/gitlab", token: testToken, body: []byte(`{"ref":"refs/heads/master"}`), code: 400, errSub: "object_kind"},
		{name: "other branch", path: "/hook/gitlab", token: testToken, body: pushBody("feature", "alice", "1a2b3c"), code: 200, status: "ignored"},
		{name: "tag push", path: "/hook/gitlab", token: testToken, body: []byte(`{"object_kind":"tag_push","ref":"refs/tags/v1"}`), code: 200, status: "ignored"},
		{name: "deleted branch", path: "/hook/gitlab", token: testToken, body: pushBody("master", "alice", "0000000000000000000000000000000000000000"), code: 200, status: "ignored"},
		{name: "bad only", path: "/hook/run?only=hello,../etc", token: testToken, code: 400, errSub: "not a package name"},
		{name: "empty only", path: "/hook/run?only=", token: testToken, code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.stream {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, h.url+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set(TokenHeader, tc.token)
			}
			if tc.stream && req.ContentLength != 0 {
				t.Fatalf("streamed request has Content-Length %d", req.ContentLength)
			}
			code, r := h.do(req)
			if code != tc.code {
				t.Errorf("code = %d, want %d (reply %+v)", code, tc.code, r)
			}
			if r.Status != tc.status {
				t.Errorf("status = %q, want %q (reply %+v)", r.Status, tc.status, r)
			}
			if tc.status == "ignored" && r.Reason == "" {
				t.Error("ignored without a reason")
			}
			if !strings.Contains(r.Error, tc.errSub) || (tc.code >= 400 && r.Error == "") {
				t.Errorf("error = %q, want it to contain %q", r.Error, tc.errSub)
			}
		})
	}
	// Every handler has returned: a run they had asked for would be
	// queued or running now, or have ended.
	if n := fr.calls.Load(); n != 0 {
		t.Errorf("%d runs started, want none", n)
	}
	if hl := h.s.Health(); hl.Running != nil || hl.Queued || hl.Last != nil {
		t.Errorf("health = %+v, want nothing run, running or queued", hl)
	}
	if got := h.log.count("hook: refused"); got != 13 {
		t.Errorf("%d refusals logged, want 13", got)
	}
}

// TestHookMethods: the hooks take POST only, /healthz GET (and HEAD).
func TestHookMethods(t *testing.T) {
	h := serve(t, listenOptions(t), newFakeRun().run, nil)
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/hook/gitlab", 405},
		{"PUT", "/hook/run", 405},
		{"POST", "/healthz", 405},
		{"HEAD", "/healthz", 200},
		{"GET", "/nothing", 404},
	} {
		req, _ := http.NewRequest(c.method, h.url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
	}
}

// TestPushBurstCoalesces: a push starts a run; 100 pushes in a burst
// during it give exactly one follow-up run, then nothing more.
func TestPushBurstCoalesces(t *testing.T) {
	fr := newFakeRun()
	h := serve(t, listenOptions(t), fr.run, nil)

	code, r := h.post("/hook/gitlab", testToken, pushBody("master", "alice", "1a2b3c4d5e6f7a8b"))
	if code != http.StatusAccepted || r.Status != statusQueued {
		t.Fatalf("first push: %d %+v, want 202 queued", code, r)
	}
	first := recv(t, fr.started, "first run")
	if first.Kind != state.TriggerGitLab || first.Detail != "push to master by alice (1a2b3c4d5e6f, 1 commit)" {
		t.Errorf("first run = %+v", first)
	}

	const burst = 100
	codes := make([]int, burst)
	statuses := make([]string, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, h.url+"/hook/gitlab", bytes.NewReader(pushBody("master", "bob", "ffeeddccbbaa9988")))
			req.Header.Set(TokenHeader, testToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			codes[i], statuses[i] = resp.StatusCode, string(b)
		})
	}
	wg.Wait()
	count := map[string]int{}
	for i := range burst {
		if codes[i] != http.StatusAccepted {
			t.Fatalf("push %d: %d %s", i, codes[i], statuses[i])
		}
		count[strings.TrimSpace(statuses[i])]++
	}
	want := map[string]int{`{"status":"queued"}`: 1, `{"status":"coalesced"}`: burst - 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("replies = %v, want %v", count, want)
	}
	if hl := h.s.Health(); hl.Running == nil || !hl.Queued {
		t.Errorf("during the first run: health = %+v, want running and queued", hl)
	}

	fr.release <- struct{}{}
	recv(t, h.ended, "end of the first run")
	second := recv(t, fr.started, "follow-up run")
	if wantDetail := "push to master by bob (ffeeddccbbaa, 1 commit); coalesced with 99 earlier request(s)"; second.Detail != wantDetail {
		t.Errorf("follow-up detail = %q, want %q", second.Detail, wantDetail)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the follow-up run")
	// Nothing asked for a run since the burst: none may be queued.
	hl := h.s.Health()
	if hl.Queued || hl.Running != nil {
		t.Errorf("after the follow-up: health = %+v, want nothing running or queued", hl)
	}
	if n := fr.calls.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	if n := fr.maxIn.Load(); n != 1 {
		t.Errorf("%d runs at once, want 1", n)
	}
}

// TestHookRunOnly: POST /hook/run narrows the run; requests during a run
// coalesce into one run over the union of their selections, and a request
// for the whole tree widens it to the whole tree.
func TestHookRunOnly(t *testing.T) {
	fr := newFakeRun()
	h := serve(t, listenOptions(t), fr.run, nil)

	if code, r := h.post("/hook/run?only=hello,libgreet&only=hello", testToken, nil); code != 202 || r.Status != statusQueued {
		t.Fatalf("run: %d %+v", code, r)
	}
	got := recv(t, fr.started, "narrowed run")
	if want := (Request{Kind: state.TriggerHook, Detail: "POST /hook/run?only=hello,libgreet", Only: []string{"hello", "libgreet"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("request = %+v, want %+v", got, want)
	}

	h.post("/hook/run?only=zlib", testToken, nil)
	h.post("/hook/run?only=gcc,zlib", testToken, nil)
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the narrowed run")
	got = recv(t, fr.started, "union run")
	if want := []string{"gcc", "zlib"}; !reflect.DeepEqual(got.Only, want) {
		t.Errorf("coalesced only = %q, want %q", got.Only, want)
	}

	h.post("/hook/run?only=zlib", testToken, nil)
	h.post("/hook/run", testToken, nil)
	h.post("/hook/run?only=musl", testToken, nil)
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the union run")
	got = recv(t, fr.started, "whole-tree run")
	if got.Only != nil {
		t.Errorf("coalesced with a whole-tree request: only = %q, want nil", got.Only)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the whole-tree run")
}

func TestParseOnly(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{nil, nil, true},
		{[]string{"hello"}, []string{"hello"}, true},
		{[]string{"a,b", "b,c"}, []string{"a", "b", "c"}, true},
		{[]string{"py3-foo", "lib.so+x_y"}, []string{"py3-foo", "lib.so+x_y"}, true},
		{[]string{"-rf"}, nil, false},
		{[]string{"a b"}, nil, false},
		{[]string{"a,,b"}, nil, false},
		{[]string{"../x"}, nil, false},
		{[]string{"héllo"}, nil, false},
		{[]string{strings.Repeat("a", 129)}, nil, false},
		{[]string{strings.Repeat("a,", 300) + "a"}, []string{"a"}, true},
	} {
		got, err := parseOnly(c.in)
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseOnly(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
	many := make([]string, maxOnly+1)
	for i := range many {
		many[i] = "p" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
	}
	if _, err := parseOnly([]string{strings.Join(many, ",")}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d names: err = %v, want too many", len(many), err)
	}
}
