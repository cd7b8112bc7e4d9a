package config

import (
	"path/filepath"
	"testing"
)

// TestEveryExampleConfig: every configuration in configs/ loads and
// validates.
func TestEveryExampleConfig(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.toml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs %q, %v: want at least apkfarm.toml, postmarketos.toml, alpine.toml", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
