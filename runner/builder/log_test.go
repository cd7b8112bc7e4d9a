package builder

import (
	"bytes"
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

// BenchmarkLogWriter measures the log path a chatty build's output takes:
// stamping, scanning for error lines, writing, then discarding past the cap.
func BenchmarkLogWriter(b *testing.B) {
	line := []byte("libtool: compile:  gcc -DHAVE_CONFIG_H -I. -I.. -O2 -g -c foo.c -fPIC -DPIC -o .libs/foo.o\n")
	chunk := bytes.Repeat(line, 32<<10/len(line))
	for _, tc := range []struct {
		name string
		max  int64
	}{{"written", 1 << 40}, {"past-cap", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "x.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			lw := newLogWriter(f, time.Now(), tc.max)
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				lw.Write(chunk)
			}
		})
	}
}

// FuzzLogWriter: whatever the output and however it is cut into writes,
// every line of the log starts with a stamp, the text written before the cap
// is the output itself, and the log never grows past the cap by more than
// the marker and the runner's notes.
func FuzzLogWriter(f *testing.F) {
	f.Add([]byte("a\nb\n"), uint8(1), uint16(1000))
	f.Add([]byte("no newline at all"), uint8(3), uint16(5))
	f.Add([]byte("\n\n\r\nerror: x\n"), uint8(2), uint16(30))
	f.Fuzz(func(t *testing.T, out []byte, cut uint8, capBytes uint16) {
		file, err := os.Create(filepath.Join(t.TempDir(), "x.log"))
		if err != nil {
			t.Fatal(err)
		}
		lw := newLogWriter(file, time.Now(), int64(capBytes)+1)
		step := int(cut%16) + 1
		for i := 0; i < len(out); i += step {
			lw.Write(out[i:min(i+step, len(out))])
		}
		lw.Notef("end")
		file.Close()
		b, _ := os.ReadFile(file.Name())
		var text []byte
		for i, line := range strings.SplitAfter(string(b), "\n") {
			if line == "" {
				continue
			}
			if len(line) < 8 || line[0] != '[' || line[6] != ']' || line[7] != ' ' {
				if i == 0 || !strings.HasPrefix(line, "\n") {
					t.Fatalf("line %d %q has no stamp; log %q", i+1, line, b)
				}
			}
			if !strings.Contains(line, "apkfarm: ") {
				text = append(text, line[min(8, len(line)):]...)
			}
		}
		if !bytes.HasPrefix(append(out, '\n'), text) && !bytes.HasPrefix(out, bytes.TrimSuffix(text, []byte("\n"))) {
			t.Fatalf("logged text %q is not a prefix of the output %q", text, out)
		}
		if limit := int64(capBytes) + 1 + 200; int64(len(b)) > limit {
			t.Fatalf("log of %d bytes past a cap of %d", len(b), capBytes+1)
		}
	})
}

func TestCreateLogCompressesLeftovers(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1.0-r0-1.log"), []byte("[00:01] left by a runner that died\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, p, err := createLog(dir, "1.0-r0")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if filepath.Base(p) != "1.0-r0-2.log" {
		t.Errorf("new log %s; want attempt 2", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "1.0-r0-1.log.gz")); err != nil {
		t.Errorf("leftover log not compressed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "1.0-r0-1.log")); !os.IsNotExist(err) {
		t.Errorf("leftover log still there: %v", err)
	}
}
