package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogWriter(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	lw := newLogWriter(f, time.Now().Add(-(61*time.Second + 500*time.Millisecond)), 200)
	lw.Write([]byte("first line\nsecond "))
	lw.Write([]byte("half\r\nmake: *** [Makefile:3: all] Error 1\n"))
	lw.Notef("a note")
	lw.Write([]byte("no newline"))
	lw.Notef("note after a partial line")
	lw.Write([]byte(strings.Repeat("x", 300) + "\nERROR: after the cap\n"))
	lw.Notef("final word")
	f.Close()
	b, _ := os.ReadFile(f.Name())
	got := string(b)
	want := "[01:01] first line\n[01:01] second half\r\n[01:01] make: *** [Makefile:3: all] Error 1\n" +
		"[01:01] apkfarm: a note\n[01:01] no newline\n[01:01] apkfarm: note after a partial line\n"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("log starts %q; want %q", got, want)
	}
	if !strings.Contains(got, "apkfarm: log truncated at 200 bytes; further output discarded\n") ||
		!strings.HasSuffix(got, "apkfarm: final word\n") || strings.Contains(got, "after the cap") {
		t.Errorf("cap not applied as expected:\n%s", got)
	}
	if n := strings.Count(got, "x"); n >= 300 {
		t.Errorf("%d x written past the cap", n)
	}
	el := lw.ErrorLines()
	if len(el) != 2 || el[0] != "[01:01] make: *** [Makefile:3: all] Error 1" || el[1] != "[01:01] ERROR: after the cap" {
		t.Errorf("error lines %q (lines past the cap are still scanned)", el)
	}
}

func TestNextAttempt(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"1.0-r0-1.log.gz", "1.0-r0-3.log", "1.0-r0-x.log", "1.0-r1-7.log.gz", "other"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	for v, want := range map[string]int{"1.0-r0": 4, "1.0-r1": 8, "2.0-r0": 1} {
		if got, err := nextAttempt(dir, v); err != nil || got != want {
			t.Errorf("nextAttempt(%s) = %d, %v; want %d", v, got, err, want)
		}
	}
	if got, err := nextAttempt(filepath.Join(dir, "missing"), "1"); err != nil || got != 1 {
		t.Errorf("nextAttempt(missing dir) = %d, %v", got, err)
	}
}

func TestErrorLooking(t *testing.T) {
	for line, want := range map[string]bool{
		">>> ERROR: hello: build failed":                                     true,
		"foo.c:(.text+0x1): undefined reference":                             true,
		"sh: cc: not found":                                                  false,
		"sh: frob: command not found":                                        true,
		"cp: can't stat 'x': No such file or directory":                      true,
		"Error: something":                                                   true,
		"compiling errors.c":                                                 false,
		"qemu: uncaught target signal 11 (Segmentation fault) - core dumped": true,
	} {
		if got := errorLooking([]byte(line)); got != want {
			t.Errorf("errorLooking(%q) = %v; want %v", line, got, want)
		}
	}
}
