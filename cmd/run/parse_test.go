package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var parseFixtures = filepath.Join("..", "..", "testdata", "aports")

// TestParseJSON runs `run parse --json` on the fixture tree: one object per
// aport and arch, lists as arrays, the path prefixed with the tree root.
func TestParseJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cmdParse(context.Background(), []string{"--json", "--arch", "aarch64,armv7", parseFixtures}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 16 {
		t.Fatalf("%d lines, want 16 (8 aports x 2 arches)", len(lines))
	}
	seen := map[string]bool{}
	for _, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, key := range []string{"pkgname", "pkgver", "pkgrel", "arch", "depends", "makedepends",
			"makedepends_build", "makedepends_host", "checkdepends", "provides", "options", "install_if", "subpackages", "path"} {
			if _, ok := obj[key]; !ok {
				t.Errorf("%v: no %q", obj["path"], key)
			}
		}
		for _, key := range []string{"arch", "depends", "subpackages"} {
			if _, ok := obj[key].([]any); !ok {
				t.Errorf("%v: %q is %T, want an array", obj["path"], key, obj[key])
			}
		}
		seen[obj["path"].(string)+" "+obj["carch"].(string)] = true
	}
	want := filepath.ToSlash(filepath.Join(parseFixtures, "main/linux-postmarketos-qcom-sdm845")) + " armv7"
	if !seen[want] {
		t.Errorf("no line for %q in %v", want, seen)
	}
	if !strings.Contains(stderr.String(), `duplicate: package "device-pine64-pinephone-phosh"`) {
		t.Errorf("stderr does not report the duplicate: %s", stderr.String())
	}
}

// TestParseErrors: an aport that cannot be read makes the exit code 1 and
// its error names the file and line; the others are still printed.
func TestParseErrors(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel, "APKBUILD"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main/good", "pkgname=good\npkgver=1\npkgrel=0\narch=all\n")
	write("main/bad", "pkgname=bad\npkgver=1\npkgrel=0\nif then\n")
	tests := []struct {
		name string
		args []string
		code int
		out  []string // parts of stdout
		err  []string // parts of stderr
	}{
		{"json", []string{"--json", "--arch", "x86_64", root}, exitFailed,
			[]string{`"pkgname":"good"`, `"error":"` + root + `/main/bad/APKBUILD:4: parse APKBUILD:`},
			[]string{root + "/main/bad/APKBUILD:4: parse APKBUILD:"}},
		{"summary", []string{"--arch", "x86_64", root}, exitFailed,
			[]string{root + "/main/good [x86_64]: good 1-r0 (builds; arch=all)", root + "/main/bad [x86_64]: error: "},
			nil},
		{"one aport", []string{"--arch", "x86_64", filepath.Join(root, "main", "good")}, exitOK,
			[]string{root + "/main/good [x86_64]: good 1-r0"}, nil},
		{"exclude", []string{"--arch", "x86_64", "--exclude", "main/bad", root}, exitOK, nil, nil},
		{"no path", []string{"--json"}, exitTrouble, nil, []string{"usage: run parse"}},
		{"unknown arch", []string{"--arch", "vax", root}, exitTrouble, nil, []string{`unknown arch "vax"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cmdParse(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			for _, s := range tt.out {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.err {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}
