package site

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
	"golang.org/x/net/html"
)

func render(t testing.TB, opt Options) Stats {
	t.Helper()
	st, err := Render(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// checkHTML tokenizes a page and requires every element closed in order,
// unique ids, and returns the ids and the links (href, src) of the page.
func checkHTML(t *testing.T, rel string, b []byte) (ids map[string]bool, links []string) {
	t.Helper()
	if _, err := html.Parse(bytes.NewReader(b)); err != nil {
		t.Errorf("%s: %v", rel, err)
	}
	ids = map[string]bool{}
	var stack []string
	z := html.NewTokenizer(bytes.NewReader(b))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err().Error() != "EOF" {
				t.Errorf("%s: %v", rel, z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			for _, a := range tok.Attr {
				switch a.Key {
				case "id":
					if ids[a.Val] {
						t.Errorf("%s: id %q twice", rel, a.Val)
					}
					ids[a.Val] = true
				case "href", "src":
					links = append(links, a.Val)
				}
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Errorf("%s: </%s> closes %v", rel, tok.Data, stack[max(0, len(stack)-3):])
				return ids, links
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("%s: elements left open: %v", rel, stack)
	}
	return ids, links
}

// TestLinksResolveAndHTMLParses: every page of the fixture site is
// well-formed, every relative link and resource resolves to a file of the
// site (and its #fragment to an id there), and nothing loads from another
// host.
func TestLinksResolveAndHTMLParses(t *testing.T) {
	opt := fixtureOptions(t, fixtureState(t))
	render(t, opt)
	files := map[string][]byte{}
	walkFiles(t, opt.Out, func(rel string, b []byte) { files[rel] = b })
	pageIDs := map[string]map[string]bool{}
	pageLinks := map[string][]string{}
	for rel, b := range files {
		if strings.HasSuffix(rel, ".html") {
			pageIDs[rel], pageLinks[rel] = checkHTML(t, rel, b)
		}
	}
	if len(pageIDs) < 20 {
		t.Fatalf("only %d pages rendered", len(pageIDs))
	}
	checked := 0
	for rel, links := range pageLinks {
		for _, l := range links {
			u, err := url.Parse(l)
			if err != nil {
				t.Errorf("%s: bad link %q", rel, l)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				if !strings.HasPrefix(l, "https://gitlab.example.org/") {
					t.Errorf("%s: link to another host %q: the site must work offline", rel, l)
				}
				continue
			}
			target := rel
			if u.Path != "" {
				target = path.Join(path.Dir(rel), u.Path)
			}
			if _, ok := files[target]; !ok {
				t.Errorf("%s: link %q: %s is not in the site", rel, l, target)
				continue
			}
			if u.Fragment != "" && !strings.Contains(u.Fragment, "=") && strings.HasSuffix(target, ".html") {
				if !pageIDs[target][u.Fragment] {
					t.Errorf("%s: link %q: %s has no id %q", rel, l, target, u.Fragment)
				}
			}
			checked++
		}
	}
	if checked < 200 {
		t.Errorf("only %d links checked", checked)
	}
}

// TestLogRendersInert: a log with markup, ANSI colours, control characters
// and bytes that are not UTF-8 shows as text, coloured, with nothing of it
// interpreted by the browser.
func TestLogRendersInert(t *testing.T) {
	opt := fixtureOptions(t, fixtureState(t))
	render(t, opt)
	b, err := os.ReadFile(filepath.Join(opt.Out, "log/x86_64/weird-log/2.0-r0-1.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var logText strings.Builder
	var walk func(n *html.Node, inLog bool)
	walk = func(n *html.Node, inLog bool) {
		if n.Type == html.ElementNode {
			count[n.Data]++
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("element <%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
				}
				if a.Key == "id" && a.Val == "log" {
					inLog = true
				}
			}
		}
		if n.Type == html.TextNode && inLog {
			logText.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLog)
		}
	}
	walk(doc, false)
	for el, want := range map[string]int{"script": 1, "h1": 1, "pre": 1, "img": 1} { // site.js; the title; the log; the brand logo
		if count[el] != want {
			t.Errorf("%d <%s> elements, want %d: the log's markup was interpreted", count[el], el, want)
		}
	}
	text := logText.String()
	for _, want := range []string{
		"<script>alert('xss')</script> and <img src=x onerror=alert(2)>",
		"</pre><h1>not a heading</h1><pre>",
		"red bold yellow 256-colour cursor moves dropped",
		"invalid UTF-8: \uFFFD\uFFFD\uFFFD end; valid: grüß ✓",
		"[00:04] progress 100%",
		"control chars: NUL BEL BS DEL and  OSC dropped",
		`entities stay text: &amp; &lt;b&gt; "quoted"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log text lacks %q", want)
		}
	}
	if strings.Contains(text, "progress 10%") {
		t.Error("carriage return: the overwritten progress is shown")
	}
	if !utf8Valid(b) || bytes.ContainsAny(b, "\x1b\x00\x07\x08\x7f") {
		t.Error("page has invalid UTF-8 or control characters")
	}
	for _, want := range []string{
		`<span class="c2">red</span>`, `<span class="c4 b">bold yellow</span>`,
		`<span class="l e" id="L9"><a href="#L9">9</a>[01:02] <span class="c2">ERROR:</span> &lt;script&gt;`,
		`<a href="#L9">line 9</a> <code>[01:02] ERROR: &lt;script&gt;alert(1)&lt;/script&gt; failed</code>`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\x00") == string(b) }

// TestRenderLogHeadAndTail: a huge log keeps its first and last lines,
// numbered as in the file, and says how many it leaves out.
func TestRenderLogHeadAndTail(t *testing.T) {
	var in strings.Builder
	n := hugeLines + 10000
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	var out bytes.Buffer
	res, err := renderLog(&out, strings.NewReader(in.String()), []string{"line 2", "line 21000", "line 29999"})
	if err != nil {
		t.Fatal(err)
	}
	if res.lines != n || res.omitAfter != headLines || res.omitted != n-headLines-tailLines {
		t.Errorf("lines %d omitAfter %d omitted %d", res.lines, res.omitAfter, res.omitted)
	}
	if want := []int{2, 0, 29999}; fmt.Sprint(res.errLine) != fmt.Sprint(want) {
		t.Errorf("error lines at %v, want %v", res.errLine, want)
	}
	s := out.String()
	for _, want := range []string{`id="L1"`, fmt.Sprintf(`id="L%d"`, headLines), fmt.Sprintf(`id="L%d"`, n-tailLines+1), fmt.Sprintf(`id="L%d"`, n), "lines not shown"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	for _, absent := range []string{fmt.Sprintf(`id="L%d"`, headLines+1), fmt.Sprintf(`id="L%d"`, n-tailLines)} {
		if strings.Contains(s, absent) {
			t.Errorf("output has %s, which is in the gap", absent)
		}
	}
	// A line without its newline, and an endless line.
	out.Reset()
	long := strings.Repeat("x", 200000)
	res, err = renderLog(&out, strings.NewReader("a\n"+long+"\nlast"), nil)
	if err != nil || res.lines != 3 {
		t.Fatalf("lines %d, %v", res.lines, err)
	}
	if out.Len() > 3*maxLineShow {
		t.Errorf("an endless line was shown whole: %d bytes", out.Len())
	}
	if !strings.Contains(out.String(), `id="L3"><a href="#L3">3</a>last</span>`) {
		t.Error("last line without newline missing")
	}
}

// TestDeterministicAndIncremental: the same state renders the same bytes;
// a second render writes nothing and keeps every mtime; a change to one
// package rewrites only what shows it; what left the state leaves the
// site.
func TestDeterministicAndIncremental(t *testing.T) {
	stateDir := fixtureState(t)
	opt := fixtureOptions(t, stateDir)
	first := render(t, opt)
	if first.Written != first.Files || first.Logs != 8 || first.LogsKept != 0 {
		t.Errorf("first render: %+v", first)
	}
	other := opt
	other.Out = filepath.Join(t.TempDir(), "other")
	render(t, other)
	a, b := map[string][]byte{}, map[string][]byte{}
	walkFiles(t, opt.Out, func(rel string, c []byte) { a[rel] = c })
	walkFiles(t, other.Out, func(rel string, c []byte) { b[rel] = c })
	if len(a) != len(b) || len(a) != first.Files {
		t.Errorf("%d and %d files, stats say %d", len(a), len(b), first.Files)
	}
	for rel := range a {
		if !bytes.Equal(a[rel], b[rel]) {
			t.Errorf("%s differs between two renders of the same state", rel)
		}
	}

	mtimes := func() map[string]time.Time {
		m := map[string]time.Time{}
		walkFiles(t, opt.Out, func(rel string, _ []byte) {
			fi, _ := os.Stat(filepath.Join(opt.Out, rel))
			m[rel] = fi.ModTime()
		})
		return m
	}
	// Make every file look old, so a rewrite shows in its mtime.
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	walkFiles(t, opt.Out, func(rel string, _ []byte) { os.Chtimes(filepath.Join(opt.Out, rel), old, old) })
	again := render(t, opt)
	if again.Written != 0 || again.LogsKept != 8 || again.Logs != 0 {
		t.Errorf("second render of the same state: %+v, want nothing written and 8 logs kept", again)
	}
	for rel, mt := range mtimes() {
		if !mt.Equal(old) {
			t.Errorf("%s rewritten by a render of the same state", rel)
		}
	}

	// One package changes: greet-doc gets a new version on x86_64; newpkg
	// leaves the tree.
	st := loadState(t, stateDir)
	st.Arches["x86_64"].Aports["greet-doc"].Status = state.Built
	st.Arches["x86_64"].Aports["greet-doc"].Version = "1.1-r0"
	for _, arch := range []string{"x86_64", "aarch64", "armv7"} {
		delete(st.Arches[arch].Aports, "newpkg")
	}
	saveState(t, stateDir, st)
	third := render(t, opt)
	changed := map[string]bool{}
	for rel, mt := range mtimes() {
		if !mt.Equal(old) {
			changed[rel] = true
		}
	}
	for _, want := range []string{"pkg/greet-doc.html", "index.html", "matrix.html", "status.json", "metrics.prom", "badge/pkg/greet-doc.svg", manifestName} {
		if !changed[want] {
			t.Errorf("%s not rewritten after greet-doc changed", want)
		}
	}
	for _, same := range []string{"pkg/hello.html", "pkg/weird-log.html", "log/x86_64/hello/1.1-r0-1.html", "run/20261122T120000Z.html", "static/style.css"} {
		if changed[same] {
			t.Errorf("%s rewritten though nothing it shows changed", same)
		}
	}
	if third.Removed != 3 { // pkg/newpkg.html and its two badge files
		t.Errorf("removed %d files, want 3 (newpkg's page and badges)", third.Removed)
	}
	if _, err := os.Stat(filepath.Join(opt.Out, "pkg/newpkg.html")); !os.IsNotExist(err) {
		t.Errorf("pkg/newpkg.html still there: %v", err)
	}
	if len(changed) > 12 {
		t.Errorf("%d files rewritten for one package: %v", len(changed), changed)
	}
}

func loadState(t *testing.T, dir string) *state.Status {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func saveState(t *testing.T, dir string, st *state.Status) {
	t.Helper()
	b, err := state.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, state.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStaleWarning: the overview warns when the last completed run is
// older than StaleAfter, and not before.
func TestStaleWarning(t *testing.T) {
	stateDir := fixtureState(t)
	for _, tc := range []struct {
		name  string
		now   time.Time
		after time.Duration
		stale bool
	}{
		{"fresh", fixtureNow, 48 * time.Hour, false},
		{"five days later", fixtureNow.Add(5 * 24 * time.Hour), 48 * time.Hour, true},
		{"warning off", fixtureNow.Add(5 * 24 * time.Hour), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := fixtureOptions(t, stateDir)
			opt.Now, opt.StaleAfter = tc.now, tc.after
			render(t, opt)
			b, _ := os.ReadFile(filepath.Join(opt.Out, "index.html"))
			hidden := regexp.MustCompile(`<div id="stale"[^>]* hidden>`).Match(b)
			if hidden == tc.stale {
				t.Errorf("stale banner hidden=%v, want stale=%v", hidden, tc.stale)
			}
			if tc.stale && !bytes.Contains(b, []byte(`<span class="age">5d1h</span>`)) {
				t.Error("banner does not say how old the last run is")
			}
		})
	}
}

// TestMachineOutputs: failed.json, feed.atom, metrics.prom and the
// shields.io endpoints parse and say what the state says.
func TestMachineOutputs(t *testing.T) {
	opt := fixtureOptions(t, fixtureState(t))
	render(t, opt)
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(opt.Out, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var f failedFile
	if err := json.Unmarshal(read("failed.json"), &f); err != nil {
		t.Fatal(err)
	}
	if f.Schema != 1 || len(f.Failed) != 3 {
		t.Fatalf("failed.json: schema %d, %d entries, want 1 and 3", f.Schema, len(f.Failed))
	}
	h := f.Failed[0]
	if h.Pkgname != "hello" || h.Arch != "aarch64" || len(f.Failed[1].Blocks) != 2 || f.Failed[1].Attempts != 2 ||
		f.Failed[1].Log != "https://build.example.org/log/x86_64/hello/1.1-r0-2.html" || h.Class != "qemu-crash" {
		t.Errorf("failed.json entries: %+v %+v", h, f.Failed[1])
	}
	if !bytes.Equal(read("status.json"), read("../../"+filepath.Base(filepath.Dir(opt.Out))+"/site/status.json")) {
		t.Error("status.json copy differs")
	}

	var feed atomFeed
	if err := xml.Unmarshal(read("feed.atom"), &feed); err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, e := range feed.Entries {
		titles = append(titles, e.Title)
	}
	want := []string{"fixed: linux-pine64 6.1-r0 on aarch64", "failed: weird-log 2.0-r0 on x86_64 (timeout)",
		"failed: hello 1.1-r0 on aarch64 (qemu-crash)", "failed: linux-pine64 6.1-r0 on aarch64 (infra)", "failed: hello 1.1-r0 on x86_64 (build-error)"}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Errorf("feed entries:\n%s\nwant\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}

	line := regexp.MustCompile(`^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{([a-z_]+="[^"\\\n]*",?)+\})? -?[0-9.e+]+)$`)
	metrics := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(string(read("metrics.prom")), "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("metrics.prom: line %q is not Prometheus text format", l)
		}
		metrics[l] = true
	}
	for _, want := range []string{`apkfarm_aports{arch="x86_64",status="failed"} 2`, `apkfarm_mirror_up{mirror="eu"} 0`,
		`apkfarm_last_run_exit_code 2`,
		fmt.Sprintf(`apkfarm_last_completed_run_end_timestamp_seconds %d`, time.Date(2026, 11, 22, 12, 29, 30, 0, time.UTC).Unix()),
		fmt.Sprintf(`apkfarm_mirror_last_success_timestamp_seconds{mirror="primary"} %d`, time.Date(2026, 11, 22, 12, 28, 0, 0, time.UTC).Unix())} {
		if !metrics[want] {
			t.Errorf("metrics.prom lacks %s", want)
		}
	}

	var shield struct {
		SchemaVersion         int
		Label, Message, Color string
	}
	if err := json.Unmarshal(read("badge/pkg/hello.json"), &shield); err != nil {
		t.Fatal(err)
	}
	if shield.SchemaVersion != 1 || shield.Label != "hello" || shield.Message != "failed 2/3" || shield.Color != "red" {
		t.Errorf("shields endpoint: %+v", shield)
	}
	if b := read("badge/arch/armv7.svg"); !bytes.Contains(b, []byte(">1 failing<")) {
		t.Errorf("armv7 badge: %s", b)
	}
}

func TestWriteLive(t *testing.T) {
	dir := t.TempDir()
	l := &state.Live{RunID: "20261122T130000Z", Stage: "build", Total: 3, Done: 1,
		Building: []state.LiveBuild{{Arch: "x86_64", Pkgname: "a</script>", Version: "1-r0", Slot: 1}}}
	if err := WriteLive(dir, l); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "live.js"))
	js, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "window.apkfarmLive = ")
	if !ok || strings.Contains(js, "</script>") {
		t.Fatalf("live.js = %s", b)
	}
	var got struct {
		RunID    string `json:"run_id"`
		Building []struct{ Pkgname, Page string }
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(js, ";")), &got); err != nil {
		t.Fatal(err)
	}
	if got.RunID != l.RunID || len(got.Building) != 1 || got.Building[0].Page != "pkg/a~3c~2fscript~3e.html" {
		t.Errorf("live.js = %+v", got)
	}
	if err := WriteLive(dir, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "live.js")); string(b) != "window.apkfarmLive = null;\n" {
		t.Errorf("live.js without a run = %q", b)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"hello": "hello", "gtk+3.0": "gtk+3.0", "py3_x": "py3_x", "x86_64": "x86_64",
		"../etc": "~2e.~2fetc", "a/b": "a~2fb", ".hidden": "~2ehidden", "a~b": "a~7eb", "": "",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		log, page string
		ok        bool
	}{
		{"logs/x86_64/hello/1.1-r0-2.log.gz", "log/x86_64/hello/1.1-r0-2.html", true},
		{"logs/x86_64/gtk+3.0/3.24-r0-1.log.gz", "log/x86_64/gtk+3.0/3.24-r0-1.html", true},
		{"logs/../../etc/passwd.log.gz", "", false},
		{"/var/lib/apkfarm/logs/x86_64/a/1-r0-1.log.gz", "", false},
		{"logs/x86_64/a/../../../x.log.gz", "", false},
		{"logs/x86_64/.a/1-r0-1.log.gz", "", false},
		{"logs/x86_64/a/1-r0-1.log", "", false},
		{"logs/x86_64/a b/1-r0-1.log.gz", "", false},
	} {
		page, raw, ok := logPaths(tc.log)
		if ok != tc.ok || page != tc.page || (ok && raw != tc.log) {
			t.Errorf("logPaths(%q) = %q, %q, %v", tc.log, page, raw, ok)
		}
	}
}

// TestBadInput: what cannot be rendered says which file and what to do;
// a log path that leaves logs/ is never read.
func TestBadInput(t *testing.T) {
	t.Run("no state", func(t *testing.T) {
		opt := fixtureOptions(t, t.TempDir())
		_, err := Render(context.Background(), opt)
		if err == nil || !strings.Contains(err.Error(), "status.json does not exist") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("corrupt state", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "status.json"), []byte(`{"schema": 1, "arches": {"x86_64": {"aports": {"a": {"status": "exploded"}}}}}`), 0o644)
		_, err := Render(context.Background(), fixtureOptions(t, dir))
		if err == nil || !strings.Contains(err.Error(), "status.json") || !strings.Contains(err.Error(), `unknown status "exploded"`) {
			t.Errorf("err = %v", err)
		}
		if _, serr := os.Stat(filepath.Join(dir, "status.json")); serr != nil {
			t.Error("the site moved the state file: it only reads")
		}
	})
	t.Run("log path outside logs", func(t *testing.T) {
		dir := fixtureState(t)
		st := loadState(t, dir)
		secret := filepath.Join(dir, "secret.log.gz")
		os.WriteFile(secret, []byte("key"), 0o600)
		st.Arches["x86_64"].Aports["hello"].Attempts[0].Log = "logs/../secret.log.gz"
		st.Arches["x86_64"].Aports["hello"].Attempts[1].Log = secret
		saveState(t, dir, st)
		opt := fixtureOptions(t, dir)
		render(t, opt)
		walkFiles(t, opt.Out, func(rel string, b []byte) {
			if string(b) == "key" || strings.Contains(rel, "secret") {
				t.Errorf("%s: a file from outside logs/ was published", rel)
			}
		})
	})
	t.Run("reserved content name", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "matrix.md"), []byte("# x"), 0o644)
		opt := fixtureOptions(t, fixtureState(t))
		opt.ContentDir = dir
		_, err := Render(context.Background(), opt)
		if err == nil || !strings.Contains(err.Error(), "matrix.md") || !strings.Contains(err.Error(), "rename") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown template", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "overveiw.html"), []byte("x"), 0o644)
		opt := fixtureOptions(t, fixtureState(t))
		opt.TemplatesDir = dir
		_, err := Render(context.Background(), opt)
		if err == nil || !strings.Contains(err.Error(), "overveiw.html") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("template that does not parse", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "page.html"), []byte("{{define \"content\"}}{{.Nope"), 0o644)
		opt := fixtureOptions(t, fixtureState(t))
		opt.TemplatesDir = dir
		_, err := Render(context.Background(), opt)
		if err == nil || !strings.Contains(err.Error(), "page.html") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestOverrides: a template and a static file from directories replace
// the embedded ones; extra static files are copied; a changed log
// template renders the log pages again.
func TestOverrides(t *testing.T) {
	stateDir := fixtureState(t)
	opt := fixtureOptions(t, stateDir)
	render(t, opt)
	tpl, static := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(tpl, "page.html"), []byte(`{{define "content"}}<div class="mine">{{.Data.HTML}}</div>{{end}}`), 0o644)
	os.WriteFile(filepath.Join(tpl, "log.html"), []byte(`{{define "content"}}<pre class="mylog">{{.Data.Body}}</pre>{{end}}`), 0o644)
	os.WriteFile(filepath.Join(static, "style.css"), []byte("body{}"), 0o644)
	os.WriteFile(filepath.Join(static, "logo.png"), []byte("png"), 0o644)
	opt.TemplatesDir, opt.StaticDir = tpl, static
	st := render(t, opt)
	if st.Logs != 8 {
		t.Errorf("%d log pages rendered after the log template changed, want 8", st.Logs)
	}
	for rel, want := range map[string]string{"about.html": `<div class="mine">`, "static/style.css": "body{}", "static/logo.png": "png",
		"log/x86_64/hello/1.1-r0-1.html": `<pre class="mylog">`, "static/site.js": "apkfarmLive"} {
		b, _ := os.ReadFile(filepath.Join(opt.Out, rel))
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q", rel, want)
		}
	}
}
