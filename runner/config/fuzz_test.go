package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: any document either decodes or is an error; a decoded
// configuration validates or reports problems; nothing panics.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "configs", "apkfarm.toml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("arches = [\"x86_64\"]\n[plan]\nretry_delays = [\"1h\"]\nbootstrap = [[\"a\", \"b\"]]\n"))
	f.Add([]byte("[publish]\nurl = \"https://x/{arch}\"\n[upstream]\nindexes = [\"http://[::1/{arch}\"]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Decode(doc, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("a config and an error")
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
