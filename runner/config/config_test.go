package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestExampleConfig: configs/apkfarm.toml, which shows every key, decodes
// strictly and validates, and sets every key to a value that is not the
// zero value (so a key added to Config without an example fails here).
func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "apkfarm.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x86_64", "aarch64"}; !reflect.DeepEqual(c.Arches, want) {
		t.Errorf("arches = %q, want %q", c.Arches, want)
	}
	if want := []Duration{Duration(time.Hour), Duration(6 * time.Hour), Duration(24 * time.Hour)}; !reflect.DeepEqual(c.Plan.RetryDelays, want) {
		t.Errorf("retry_delays = %v, want %v", c.Plan.RetryDelays, want)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "apkfarm.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range tomlKeys(reflect.TypeOf(Config{}), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(b), "\n"+leaf+" =") && !strings.Contains(string(b), "# "+leaf+" =") {
			t.Errorf("configs/apkfarm.toml does not show key %q", key)
		}
	}
}

// tomlKeys lists the dotted TOML keys of a struct type.
func tomlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := prefix + f.Tag.Get("toml")
		if f.Type.Kind() == reflect.Struct {
			out = append(out, tomlKeys(f.Type, name+".")...)
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			out = append(out, tomlKeys(f.Type.Elem(), name+".")...) // an array of tables: its keys
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, err := Decode([]byte("[source]\npath = \"/srv/pmaports\"\n[publish]\ndir = \"/srv/repo\"\n"), "min.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a minimal config does not validate: %v", err)
	}
	if !reflect.DeepEqual(c.Arches, []string{HostArch()}) || c.State.Dir != "/var/lib/apkfarm" ||
		c.Publish.Keys != "/etc/apkfarm/keys" || time.Duration(c.HTTPTimeout) != time.Minute ||
		len(c.Plan.RetryDelays) != 3 || c.Native() != HostArch() {
		t.Errorf("defaults = %+v", c)
	}
	c, err = Decode([]byte("[plan]\nretry_delays = []\n"), "x.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Plan.RetryDelays) != 0 {
		t.Errorf("retry_delays = [] gave %v, want no retries", c.Plan.RetryDelays)
	}
	c, err = Decode([]byte("[plan]\nretry_delays = [\"5m\"]\n"), "x.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Plan.RetryDelays, []Duration{Duration(5 * time.Minute)}) {
		t.Errorf("retry_delays = [\"5m\"] gave %v: a list in the file replaces the default", c.Plan.RetryDelays)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown keys, all with lines", "arches = [\"x86_64\"]\nfoo = 1\n[source]\npth = \"x\"\n[nope]\na = 1\n",
			[]string{`bad.toml:2: unknown key "foo"`, `bad.toml:4: unknown key "source.pth"`, `"nope`}},
		{"unknown key under [build]", "[build]\nimage = \"x\"\nimgae = \"y\"\n", []string{`bad.toml:3: unknown key "build.imgae"`}},
		{"bad size", "[build]\nmemory = \"8 gigs\"\n", []string{`parse size "8 gigs"`}},
		{"wrong type", "jobs = \"many\"\n", []string{"bad.toml:1:"}},
		{"bad duration", "http_timeout = \"1 minute\"\n", []string{`parse duration "1 minute"`}},
		{"syntax", "arches = [\n", []string{"bad.toml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc), "bad.toml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := func() Config {
		c := Default()
		c.Arches = []string{"x86_64", "aarch64"}
		c.Source.Path = "/srv/pmaports"
		c.Publish.Dir = "/srv/repo"
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // each problem, in order
	}{
		{"valid", func(*Config) {}, nil},
		{"every problem at once", func(c *Config) {
			c.Arches = []string{"x86_64", "m68k", "x86_64"}
			c.NativeArch = "armv7"
			c.Jobs = -1
			c.HTTPTimeout = 0
			c.Source.Path = ""
			c.Source.Exclude = []string{"[bad", "/abs"}
			c.Publish = Publish{URL: "ftp://host/{arch}/APKINDEX.tar.gz"}
			c.Upstream.Indexes = []string{"https://dl-cdn.alpinelinux.org/alpine/edge/main/x86_64/APKINDEX.tar.gz"}
			c.State.Dir = ""
			c.Plan.RetryDelays = []Duration{Duration(time.Hour), 0}
			c.Plan.Bootstrap = [][]string{{"gcc", "musl"}, {"musl"}}
		}, []string{
			`arches: unknown arch "m68k"`, `arches: "x86_64" listed twice`, `native_arch: "armv7" is not in arches`,
			`jobs: -1 is negative`, `http_timeout: must be positive`,
			`source.path: missing`, `source.exclude: bad glob "[bad"`, `source.exclude: bad glob "/abs"`,
			`publish.url: "ftp://host/{arch}/APKINDEX.tar.gz" is not an http(s) URL`, `publish.keys: missing`,
			`upstream.indexes: "https://dl-cdn.alpinelinux.org/alpine/edge/main/x86_64/APKINDEX.tar.gz" does not contain {arch}`,
			`state.dir: missing`, `plan.retry_delays: delay 2 is 0s`,
			`plan.bootstrap: order 2 has 1 pkgnames`, `plan.bootstrap: "musl" is in orders 1 and 2`,
		}},
		{"no arches", func(c *Config) { c.Arches = nil }, []string{"arches: empty"}},
		{"neither publish dir nor url", func(c *Config) { c.Publish.Dir = "" }, []string{"publish: set dir"}},
		{"local upstream path", func(c *Config) { c.Upstream.Indexes = []string{"/mirror/{arch}/APKINDEX.tar.gz"} }, nil},
		{"site problems", func(c *Config) {
			c.Site = Site{BaseURL: "build.example.org", ForgeURL: "https://forge/x/APKBUILD", History: 0, StaleAfter: -1}
		}, []string{
			`site.base_url: "build.example.org" is not an absolute http(s) URL`,
			`site.forge_url: "https://forge/x/APKBUILD" has neither {dir} nor {pkgname}`,
			`site.title: empty`, `site.history: 0`, `site.stale_after: -1ns is negative`,
		}},
		{"forge url not http", func(c *Config) { c.Site.ForgeURL = "forge/{dir}" }, []string{`site.forge_url: "forge/{dir}" is not an absolute http(s) URL template`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantProblems(t, err, tt.want)
		})
	}
}

func TestNative(t *testing.T) {
	tests := []struct {
		name   string
		arches []string
		native string
		want   string
	}{
		{"configured", []string{"x86_64", "aarch64"}, "aarch64", "aarch64"},
		{"host arch in the list", []string{"riscv64", HostArch()}, "", HostArch()},
		{"else the first", []string{"s390x-not-host"}, "", "s390x-not-host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Arches: tt.arches, NativeArch: tt.native}
			if got := c.Native(); got != tt.want {
				t.Errorf("Native() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSite(t *testing.T) {
	c := Default()
	if c.Site.History != 50 || c.Site.StaleAfter != Duration(48*time.Hour) || c.Site.Title != "apkfarm" {
		t.Errorf("site defaults = %+v", c.Site)
	}
	if got := c.Site.OutDir("/var/lib/apkfarm/"); got != "/var/lib/apkfarm/site" {
		t.Errorf("OutDir = %q, want /var/lib/apkfarm/site", got)
	}
	if err := c.Site.Validate(); err != nil {
		t.Errorf("default [site]: %v", err)
	}
	c.Site.Out = "/srv/www"
	if got := c.Site.OutDir("/var/lib/apkfarm"); got != "/srv/www" {
		t.Errorf("OutDir = %q, want /srv/www", got)
	}
	c.Site.History = -1
	wantProblems(t, c.Site.Validate(), []string{"site.history: -1"})
}
