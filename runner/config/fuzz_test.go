package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode: any document either decodes or is an error naming the
// file; a decoded configuration validates or reports problems; nothing
// panics (the checker that reports every type error walks whatever the
// TOML parser accepts).
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "configs", "apkfarm.toml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("arches = [\"x86_64\"]\n[plan]\nretry_delays = [\"1h\"]\nbootstrap = [[\"a\", \"b\"]]\n"))
	f.Add([]byte("[publish]\nurl = \"https://x/{arch}\"\n[upstream]\nindexes = [\"http://[::1/{arch}\"]\n"))
	f.Add([]byte("jobs = \"many\"\nhttp_timeout = 300\n[build]\nmemory = true\nenv = [\"A\", 2]\npackage_timeouts = { x = 60 }\n[[source]]\n[state.dir]\na.b = 1\n"))
	f.Add([]byte("build.images.x86_64 = \"i\"\nplan = { bootstrap = [[\"a\", 1]] }\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Decode(doc, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("a config and an error")
			}
			if !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			if ve, ok := err.(*ValidationError); !ok || len(ve.Problems) == 0 {
				t.Fatalf("Validate: %v, want a ValidationError with problems", err)
			}
		}
		_ = c.Native()
	})
}
