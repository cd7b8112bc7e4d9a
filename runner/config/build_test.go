package config

import (
	"strings"
	"testing"
	"time"
)

func TestBuildDefaults(t *testing.T) {
	c, err := Decode([]byte("[source]\npath = \"/t\"\n[publish]\ndir = \"/r\"\n"), "min.toml")
	if err != nil {
		t.Fatal(err)
	}
	b := c.Build
	if b.Timeout != Duration(3*time.Hour) || b.IdleTimeout != Duration(30*time.Minute) || b.LogMaxBytes != 64<<20 ||
		b.Image != "" || b.Memory != 0 || b.Pids != 0 || b.User != "" || b.Runtime != "runc" {
		t.Errorf("build defaults = %+v", b)
	}
	if err := c.CheckBuild(c.Arches); err == nil || !strings.Contains(err.Error(), "build.image: not set") {
		t.Errorf("CheckBuild without an image = %v, want build.image: not set", err)
	}
	c, err = Decode([]byte("arches = [\"x86_64\", \"aarch64\"]\n[build]\nimages = { aarch64 = \"a\" }\nidle_timeout = \"0s\"\nmemory = \"512MiB\"\n"), "x.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckBuild([]string{"aarch64"}); err != nil {
		t.Errorf("CheckBuild(aarch64) with images.aarch64: %v", err)
	}
	if err := c.CheckBuild([]string{"x86_64", "aarch64"}); err == nil {
		t.Error("CheckBuild(x86_64) without build.image: no error")
	}
	if c.Build.IdleTimeout != 0 || c.Build.Memory != 512<<20 || c.Build.ImageFor("aarch64") != "a" || c.Build.ImageFor("x86_64") != "" {
		t.Errorf("decoded %+v", c.Build)
	}
}

func TestBuildValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Build)
		want   []string
	}{
		{"valid", func(b *Build) {
			b.Image = "rootfs:/x.tar.gz"
			b.Images = map[string]string{"aarch64": "oci-layout:/y"}
			b.Env = []string{"MAKEFLAGS=-j4", "EMPTY="}
			b.User = "1000:1000"
			b.IdleTimeout = 0
		}, nil},
		{"crun", func(b *Build) { b.Runtime = "crun" }, nil},
		{"prepared root and caches", func(b *Build) {
			b.Packages = []string{"alpine-base", "abuild>=3.12", "build-base"}
			b.Repositories = []string{"https://dl-cdn.alpinelinux.org/alpine/edge/main", "/srv/repo", "@pmos https://mirror.example.org/pmos"}
			b.SourcesDir, b.CcacheDir, b.CcacheSize = "/var/cache/sources", "/var/cache/ccache", 1<<30
		}, nil},
		{"bad prepared root and caches", func(b *Build) {
			b.Packages = []string{"", "build base", "--allow-untrusted"}
			b.Repositories = []string{"relative/repo", "@tag", "@a b c", "ftp://x"}
			b.SourcesDir, b.CcacheDir, b.CcacheSize, b.SourcesMaxAge = "sources", "ccache", -1, 0
		}, []string{
			`build.packages: "" is not a package name`, `build.packages: "build base" is not a package name`,
			`build.packages: "--allow-untrusted" is not a package name`,
			`build.repositories: "relative/repo": want an http(s) URL or an absolute path`,
			`build.repositories: "@tag": want an http(s) URL or an absolute path`,
			`build.repositories: "@a b c": want a URL or an absolute path, optionally after an @tag`,
			`build.repositories: "ftp://x": want an http(s) URL`,
			`build.sources_dir: "sources": must be an absolute path`, `build.ccache_dir: "ccache": must be an absolute path`,
			`build.sources_max_age: must be positive`, `build.ccache_size: negative`,
		}},
		{"repositories without packages", func(b *Build) { b.Repositories = []string{"/srv/repo"} },
			[]string{`build.repositories: set, but build.packages is empty`}},
		{"runtime path", func(b *Build) { b.Runtime = "/usr/local/bin/crun" }, nil},
		{"empty runtime", func(b *Build) { b.Runtime = "" }, []string{`build.runtime: empty`}},
		{"relative runtime", func(b *Build) { b.Runtime = "bin/crun" }, []string{`build.runtime: "bin/crun": use "runc", "crun" or a clean absolute path`}},
		{"unclean runtime", func(b *Build) { b.Runtime = "/usr/bin/../bin/crun" }, []string{`build.runtime: "/usr/bin/../bin/crun": use`}},
		{"other runtime name", func(b *Build) { b.Runtime = "youki" }, []string{`build.runtime: "youki": use "runc", "crun"`}},
		{"every problem at once", func(b *Build) {
			b.Image = " x"
			b.Images = map[string]string{"riscv64": "r", "aarch64": " "}
			b.Timeout = 0
			b.IdleTimeout = -1
			b.LogMaxBytes = 0
			b.Env = []string{"1X=y", "NOVALUE"}
			b.User = "build"
			b.Memory = -1
			b.Pids = -1
			b.PackageTimeouts = map[string]Duration{"linux": 0, "ok": Duration(time.Hour)}
		}, []string{
			`build.image: " x" has surrounding spaces`,
			`build.images: aarch64: empty image reference`,
			`build.images: arch "riscv64" is not in arches`,
			`build.timeout: must be positive`,
			`build.idle_timeout: -1ns is negative`,
			`build.log_max_bytes: 0: must be positive`,
			`build.env: "1X=y" is not NAME=value`, `build.env: "NOVALUE" is not NAME=value`,
			`build.user: "build": use numeric "uid:gid"`,
			`build.memory: negative`, `build.pids: -1 is negative`,
			`build.package_timeouts: linux: 0s: must be positive`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Arches = []string{"x86_64", "aarch64"}
			c.Source.Path, c.Publish.Dir = "/t", "/r"
			tt.change(&c.Build)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantProblems(t, err, tt.want)
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"4096", 4096, false}, {"512MiB", 512 << 20, false}, {"8GiB", 8 << 30, false}, {"1.5G", 3 << 29, false},
		{"2 kb", 2048, false}, {"", 0, true}, {"8 gigs", 0, true}, {"-1G", 0, true}, {"1e3", 0, true},
	}
	for _, tt := range tests {
		var b ByteSize
		err := b.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.err || (err == nil && b != tt.want) {
			t.Errorf("ByteSize(%q) = %d, %v; want %d, error %v", tt.in, b, err, tt.want, tt.err)
		}
	}
}

// wantProblems checks that err is a *ValidationError with exactly the
// problems want, in order, each given by its start.
func wantProblems(t *testing.T, err error, want []string) {
	t.Helper()
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Problems), len(want), strings.Join(ve.Problems, "\n"))
	}
	for i, w := range want {
		if i < len(ve.Problems) && !strings.HasPrefix(ve.Problems[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i+1, ve.Problems[i], w)
		}
	}
}
