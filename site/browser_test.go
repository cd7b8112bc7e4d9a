package site

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"golang.org/x/net/websocket"
)

// TestBrowser loads the fixture site from file:// in a real headless
// Chromium, driven over the DevTools protocol: no page logs an error, the
// filter narrows the matrix, a #L anchor scrolls its line into view, and
// screenshots are written ($APKFARM_SCREENSHOTS, e.g. docs/screenshots,
// else a temporary directory).
func TestBrowser(t *testing.T) {
	bin := alpinetest.RequireCommand(t, "chromium", "apt-get install chromium")
	opt := fixtureOptions(t, fixtureState(t))
	render(t, opt)
	shots := os.Getenv("APKFARM_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if !filepath.IsAbs(shots) {
		shots = filepath.Join("..", shots) // relative to the project root, not this package
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cdp := startChromium(ctx, t, bin)
	base := "file://" + opt.Out + "/"

	pages := []struct{ name, path string }{
		{"overview", "index.html"}, {"matrix", "matrix.html"}, {"package", "pkg/hello.html"},
		{"log", "log/x86_64/hello/1.1-r0-2.html"}, {"run", "run/20261122T120000Z.html"},
		{"history", "history.html"}, {"about", "about.html"}, {"inert-log", "log/x86_64/weird-log/2.0-r0-1.html"},
	}
	for _, p := range pages {
		cdp.navigate(t, base+p.path)
		if got := cdp.eval(t, `document.title`); !strings.Contains(got.(string), "demo farm") {
			t.Errorf("%s: title %q", p.path, got)
		}
		cdp.screenshot(t, filepath.Join(shots, p.name+".png"))
	}

	// The filter narrows the matrix, by name and by status and arch.
	cdp.navigate(t, base+"matrix.html")
	visible := `Array.from(document.querySelectorAll("#matrix tbody tr")).filter(r => !r.hidden).length`
	if cdp.eval(t, `document.getElementById("filters").hidden`) != false {
		t.Error("matrix filter still hidden with JavaScript on")
	}
	all := cdp.eval(t, visible).(float64)
	cdp.eval(t, `(() => { const q = document.getElementById("q"); q.value = "hello-"; q.dispatchEvent(new Event("input")); })()`)
	if n := cdp.eval(t, visible).(float64); n != 2 || all != 10 {
		t.Errorf("filter \"hello-\": %v of %v rows shown, want 2 of 10", n, all)
	}
	cdp.eval(t, `(() => { const q = document.getElementById("q"); q.value = ""; q.dispatchEvent(new Event("input"));
		const s = document.getElementById("fs"); s.value = "failed"; s.dispatchEvent(new Event("change"));
		const a = document.getElementById("fa"); a.value = "x86_64"; a.dispatchEvent(new Event("change")); })()`)
	if n := cdp.eval(t, visible).(float64); n != 2 {
		t.Errorf("filter failed on x86_64: %v rows shown, want 2 (hello, weird-log)", n)
	}
	if h := cdp.eval(t, `location.hash`); h != "#s=failed&arch=x86_64" {
		t.Errorf("filter not kept in the address: %q", h)
	}
	cdp.screenshot(t, filepath.Join(shots, "matrix-filtered.png"))
	// The address restores the filter.
	cdp.navigate(t, base+"matrix.html#q=%2Fplugin%7Cextra%2F")
	if n := cdp.eval(t, visible).(float64); n != 2 {
		t.Errorf("regex filter from the address: %v rows shown, want 2", n)
	}

	// A line anchor scrolls its line into view and highlights it.
	cdp.navigate(t, base+"log/aarch64/linux-pine64/6.1-r0-2.html#L100")
	pos := cdp.eval(t, `(() => { const r = document.getElementById("L100").getBoundingClientRect();
		return [r.top, window.innerHeight, window.scrollY, document.querySelector(":target").id]; })()`).([]any)
	if top, h, y := pos[0].(float64), pos[1].(float64), pos[2].(float64); top < 0 || top >= h || y <= 0 || pos[3] != "L100" {
		t.Errorf("#L100: line at %v in a %v high window scrolled by %v, target %v", top, h, y, pos[3])
	}
	cdp.screenshot(t, filepath.Join(shots, "log-anchor.png"))

	// Dark mode.
	cdp.call(t, "Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}})
	cdp.navigate(t, base+"index.html")
	if bg := cdp.eval(t, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(14, 18, 23)" {
		t.Errorf("dark mode background %v", bg)
	}
	cdp.screenshot(t, filepath.Join(shots, "overview-dark.png"))

	cdp.mu.Lock()
	defer cdp.mu.Unlock()
	for _, e := range cdp.errors {
		t.Errorf("browser console: %s", e)
	}
}

// cdp is a DevTools protocol session with one page.
type cdp struct {
	ctx    context.Context
	ws     *websocket.Conn
	mu     sync.Mutex
	id     int
	waits  map[int]chan json.RawMessage
	events chan cdpMsg
	errors []string
}

type cdpMsg struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startChromium(ctx context.Context, t *testing.T, bin string) *cdp {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
		"--remote-allow-origins=http://127.0.0.1", "--hide-scrollbars", "--window-size=1280,860",
		"--force-device-scale-factor=1", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not print its DevTools address within 60 s")
	}
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	pageURL := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			pageURL = tg.WebSocketDebuggerURL
		}
	}
	if pageURL == "" {
		t.Fatalf("no page target in %+v", targets)
	}
	ws, err := websocket.Dial(pageURL, "", "http://127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ws.MaxPayloadBytes = 64 << 20
	t.Cleanup(func() { ws.Close() })
	c := &cdp{ctx: ctx, ws: ws, waits: map[int]chan json.RawMessage{}, events: make(chan cdpMsg, 256)}
	go c.read()
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		c.call(t, m, nil)
	}
	return c
}

func (c *cdp) read() {
	for {
		var m cdpMsg
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			close(c.events)
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.waits[m.ID]
			delete(c.waits, m.ID)
			c.mu.Unlock()
			if m.Error != nil {
				m.Result, _ = json.Marshal(map[string]string{"cdpError": m.Error.Message})
			}
			if ch != nil {
				ch <- m.Result
			}
			continue
		}
		switch m.Method {
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string
				Args []struct{ Value any }
			}
			json.Unmarshal(m.Params, &p)
			if p.Type == "error" || p.Type == "warning" || p.Type == "assert" {
				c.addError(fmt.Sprintf("console.%s %v", p.Type, p.Args))
			}
		case "Runtime.exceptionThrown":
			c.addError("exception: " + string(m.Params))
		case "Log.entryAdded":
			var p struct {
				Entry struct{ Level, Text, URL string }
			}
			json.Unmarshal(m.Params, &p)
			if p.Entry.Level == "error" || p.Entry.Level == "warning" {
				c.addError(fmt.Sprintf("%s: %s (%s)", p.Entry.Level, p.Entry.Text, p.Entry.URL))
			}
		}
		select {
		case c.events <- m:
		default: // nobody waits for events now
		}
	}
}

func (c *cdp) addError(s string) {
	c.mu.Lock()
	c.errors = append(c.errors, s)
	c.mu.Unlock()
}

func (c *cdp) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	c.mu.Lock()
	c.id++
	id := c.id
	ch := make(chan json.RawMessage, 1)
	c.waits[id] = ch
	c.mu.Unlock()
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	select {
	case r := <-ch:
		if strings.Contains(string(r), `"cdpError"`) {
			t.Fatalf("%s: %s", method, r)
		}
		return r
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no answer within 60 s", method)
	case <-c.ctx.Done():
		t.Fatalf("%s: %v", method, c.ctx.Err())
	}
	return nil
}

// navigate loads url and waits for its load event.
func (c *cdp) navigate(t *testing.T, url string) {
	t.Helper()
	for drained := false; !drained; { // forget earlier events
		select {
		case <-c.events:
		default:
			drained = true
		}
	}
	r := c.call(t, "Page.navigate", map[string]string{"url": url})
	if strings.Contains(string(r), "errorText") {
		t.Fatalf("navigate %s: %s", url, r)
	}
	if strings.Contains(url, "#") && !strings.Contains(string(r), "loaderId") {
		// A fragment change within the same document fires no load event.
		c.call(t, "Page.reload", nil)
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-c.events:
			if !ok {
				t.Fatal("DevTools connection closed")
			}
			if m.Method == "Page.loadEventFired" {
				c.eval(t, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`)
				return
			}
		case <-deadline:
			t.Fatalf("navigate %s: no load event within 60 s", url)
		}
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and returns
// its value.
func (c *cdp) eval(t *testing.T, expr string) any {
	t.Helper()
	r := c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	var v struct {
		Result           struct{ Value any }
		ExceptionDetails any
	}
	if err := json.Unmarshal(r, &v); err != nil {
		t.Fatal(err)
	}
	if v.ExceptionDetails != nil {
		t.Fatalf("evaluate %s: %v", expr, v.ExceptionDetails)
	}
	return v.Result.Value
}

func (c *cdp) screenshot(t *testing.T, path string) {
	t.Helper()
	r := c.call(t, "Page.captureScreenshot", map[string]any{"format": "png"})
	var v struct{ Data string }
	json.Unmarshal(r, &v)
	b, err := base64.StdEncoding.DecodeString(v.Data)
	if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %d bytes, %v", path, len(b), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
