package trigger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestParsePush: events as GitLab sends them (testdata/push.json is a
// push event in the shape GitLab documents), other events, and bodies that
// are not events.
func TestParsePush(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("testdata", "push.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		body   string
		want   Push
		detail string
		err    string
	}{
		{name: "gitlab push", body: string(real),
			want:   Push{Kind: "push", Ref: "refs/heads/master", Branch: "master", SHA: "7c41e0b9d2a35f6e8c1b4d7a0e3f6c9b2d5a8e1f", User: "alice", Commits: 3, Project: "postmarketOS/pmaports"},
			detail: "push to master by alice (7c41e0b9d2a3, 3 commits)"},
		{name: "commits counted", body: `{"object_kind":"push","ref":"refs/heads/v24.06","checkout_sha":"abc","commits":[{},{}]}`,
			want:   Push{Kind: "push", Ref: "refs/heads/v24.06", Branch: "v24.06", SHA: "abc", Commits: 2},
			detail: "push to v24.06 (abc, 2 commits)"},
		{name: "branch with slash", body: `{"object_kind":"push","ref":"refs/heads/feature/x","checkout_sha":null,"user_username":"a"}`,
			want:   Push{Kind: "push", Ref: "refs/heads/feature/x", Branch: "feature/x", User: "a"},
			detail: "push to feature/x by a"},
		{name: "not a branch", body: `{"object_kind":"push","ref":"refs/merge-requests/1/head"}`,
			want: Push{Kind: "push", Ref: "refs/merge-requests/1/head"}},
		{name: "tag push", body: `{"object_kind":"tag_push","ref":"refs/tags/v1.0"}`,
			want: Push{Kind: "tag_push", Ref: "refs/tags/v1.0"}},
		{name: "merge request", body: `{"object_kind":"merge_request","user":{"username":"a"}}`,
			want: Push{Kind: "merge_request"}},
		{name: "hostile strings", body: `{"object_kind":"push","ref":"refs/heads/master","checkout_sha":"\u001b[31mred","user_username":"eve\n\u202emallory` + strings.Repeat("x", 100) + `"}`,
			want:   Push{Kind: "push", Ref: "refs/heads/master", Branch: "master", SHA: "\x1b[31mred", User: "eve\n\u202emallory" + strings.Repeat("x", 100)},
			detail: "push to master by evemallory" + strings.Repeat("x", 54) + "… ([31mred)"},
		{name: "empty", body: "  \n", err: "empty body"},
		{name: "array", body: `[{"object_kind":"push"}]`, err: "not a JSON object"},
		{name: "garbage", body: "ref=refs/heads/master", err: "not a JSON object"},
		{name: "truncated", body: `{"object_kind":"push","ref":"refs/he`, err: "parse push event"},
		{name: "no kind", body: `{"ref":"refs/heads/master"}`, err: "no object_kind"},
		{name: "no ref", body: `{"object_kind":"push"}`, err: "without a ref"},
		{name: "wrong type", body: `{"object_kind":"push","ref":"refs/heads/master","total_commits_count":"many"}`, err: "parse push event"},
		{name: "trailing garbage", body: `{"object_kind":"push","ref":"refs/heads/master"} {}`, err: "parse push event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePush([]byte(c.body))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("push = %+v\nwant   %+v", got, c.want)
			}
			if c.detail != "" && got.Detail() != c.detail {
				t.Errorf("detail = %q\nwant     %q", got.Detail(), c.detail)
			}
		})
	}
}

// FuzzParsePush: any body is a push or an error, never a panic; a parsed
// push's branch comes from its ref, and its detail is short and printable.
// Seeds: testdata/fuzz/FuzzParsePush.
func FuzzParsePush(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePush(body)
		if err != nil {
			if p != (Push{}) {
				t.Fatalf("a push and an error: %+v, %v", p, err)
			}
			return
		}
		if p.Kind == "" {
			t.Fatal("a push without a kind")
		}
		if p.Branch != "" && p.Ref != "refs/heads/"+p.Branch {
			t.Fatalf("branch %q from ref %q", p.Branch, p.Ref)
		}
		if p.Kind == "push" && p.Ref == "" {
			t.Fatal("a push without a ref")
		}
		d := p.Detail()
		if utf8.RuneCountInString(d) > 200 || !utf8.ValidString(d) {
			t.Fatalf("detail %q: too long or not UTF-8", d)
		}
		for _, r := range d {
			if !unicode.IsPrint(r) {
				t.Fatalf("detail %q holds %U", d, r)
			}
		}
		// What was parsed survives a trip through GitLab's shape.
		again, err := ParsePush(reencode(p))
		if err != nil || again.Kind != p.Kind || again.Branch != p.Branch || again.Commits != p.Commits {
			t.Fatalf("re-encoded %+v: %+v, %v", p, again, err)
		}
	})
}

// reencode writes p as a GitLab event.
func reencode(p Push) []byte {
	ev := map[string]any{"object_kind": p.Kind, "ref": p.Ref, "checkout_sha": p.SHA, "user_username": p.User,
		"total_commits_count": p.Commits, "project": map[string]string{"path_with_namespace": p.Project}}
	b, _ := json.Marshal(ev)
	return b
}

func BenchmarkParsePush(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "push.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParsePush(body); err != nil {
			b.Fatal(err)
		}
	}
}
