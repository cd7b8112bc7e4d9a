package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stateDir copies the site package's fixture state (status.json and the
// run records; no logs are needed here).
func stateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"status.json", "runs/20261122T120000Z.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "site", "testdata", "state", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunSite(t *testing.T) {
	st := stateDir(t)
	out := filepath.Join(t.TempDir(), "www")
	cfg := filepath.Join(t.TempDir(), "apkfarm.toml")
	os.WriteFile(cfg, []byte("[state]\ndir = \""+st+"\"\n[site]\ntitle = \"my farm\"\nout = \""+out+"\"\n"), 0o644)
	badCfg := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(badCfg, []byte("[site]\nhistory = 0\nbase_url = \"nope\"\n"), 0o644)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		page   string // a file the site must have, and a string in it
		want   string
	}{
		{"flags", []string{"--state", st, "--out", out + "1", "--base-url", "https://b.example.org/"}, 0, "",
			out + "1/failed.json", `"page": "https://b.example.org/pkg/hello.html"`},
		{"config", []string{"--config", cfg, "-v"}, 0, "site rendered", out + "/index.html", "my farm"},
		{"no state", []string{"--out", out}, 2, "--state is required", "", ""},
		{"missing status.json", []string{"--state", t.TempDir(), "--out", out + "2"}, 2, "status.json does not exist", "", ""},
		{"bad config", []string{"--config", badCfg, "--state", st}, 2, `site.history: 0`, "", ""},
		{"bad base url", []string{"--state", st, "--base-url", "build.example.org"}, 2, `site.base_url: "build.example.org" is not an absolute`, "", ""},
		{"unknown flag", []string{"--stat", st}, 2, "flag provided but not defined", "", ""},
		{"extra argument", []string{"--state", st, "now"}, 2, `unexpected argument "now"`, "", ""},
		{"help", []string{"-h"}, 0, "usage: site", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runSite(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
			if tc.page != "" {
				b, err := os.ReadFile(tc.page)
				if err != nil || !strings.Contains(string(b), tc.want) {
					t.Errorf("%s: %v; lacks %q", tc.page, err, tc.want)
				}
			}
		})
	}
	// Without --out and without site.out: <state>/site.
	var stderr bytes.Buffer
	if code := runSite(context.Background(), []string{"--state", st}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(st, "site", "matrix.html")); err != nil {
		t.Error(err)
	}
}
