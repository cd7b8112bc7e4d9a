package trigger

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadToken: the token file must exist, be a regular file closed to
// other users, and hold a secret.
func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		path string
		want string // the token, or a part of the error
		ok   bool
	}{
		{"good", write("good", "  s3cret\n", 0o600), "s3cret", true},
		{"group readable", write("group", "s3cret", 0o640), "s3cret", true},
		{"unset", "", "set trigger.token_file", false},
		{"missing", filepath.Join(dir, "nope"), "does not exist: write a random secret", false},
		{"empty", write("empty", "", 0o600), "is empty", false},
		{"blank", write("blank", " \n\t\n", 0o600), "is empty", false},
		{"world readable", write("world", "s3cret", 0o644), "open to every user (mode 0644): chmod 600", false},
		{"world writable", write("worldw", "s3cret", 0o602), "mode 0602", false},
		{"huge", write("huge", strings.Repeat("x", maxTokenBytes+1), 0o600), "more than 4096 bytes", false},
		{"directory", dir, "not a regular file", false},
		{"fifo", fifo, "not a regular file", false},
	} {
		tok, err := ReadToken(c.path)
		switch {
		case c.ok && (err != nil || string(tok) != c.want):
			t.Errorf("%s: ReadToken = %q, %v; want %q", c.name, tok, err, c.want)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: ReadToken = %q, %v; want an error with %q", c.name, tok, err, c.want)
		}
	}
}

// TestNewErrors: bad options are errors from New, before anything runs,
// each saying what to fix.
func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := listenOptions(t)
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"nothing", func(o *Options) { o.Listen = "" }, "nothing to serve"},
		{"on_stop", func(o *Options) { o.OnStop = "later" }, `on_stop "later": want "finish" or "cancel"`},
		{"on_stop empty", func(o *Options) { o.OnStop = "" }, `on_stop ""`},
		{"schedule", func(o *Options) { o.Every = "every day" }, `parse schedule "every day"`},
		{"max age", func(o *Options) { o.HealthzMaxAge = -1 }, "healthz_max_age"},
		{"max body", func(o *Options) { o.MaxBody = 0 }, "max_body 0: must be positive"},
		{"token", func(o *Options) { o.TokenFile = "/nonexistent/token" }, "/nonexistent/token does not exist"},
		{"address", func(o *Options) { o.Listen = "nowhere:http:80" }, `listen on "nowhere:http:80"`},
		{"port taken", func(o *Options) { o.Listen = busy.Addr().String() }, "address already in use"},
	} {
		o := good
		c.edit(&o)
		s, err := New(o, newFakeRun().run)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want an error with %q", c.name, err, c.want)
		}
		if s != nil {
			t.Errorf("%s: a server and an error", c.name)
		}
	}
	if _, err := New(good, nil); err == nil {
		t.Error("New without a RunFunc: no error")
	}
}
