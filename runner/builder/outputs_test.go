package builder

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/memtest"
	"github.com/apkfarm/apkfarm/runner/apk"
)

// bombAPK returns an .apk of a few MB whose control member inflates to 5
// GiB, and a good package of p whose data member inflates to 256 MiB.
func bombAPKs() (bomb, big []byte) {
	const huge = 5 << 30
	bomb = append(memtest.GzipBomb(memtest.TarHeader(".PKGINFO", huge), huge), memtest.GzipBomb(nil, 1024)...)
	const size = 256 << 20
	data := memtest.GzipBomb(memtest.TarHeader("usr/share/p/big", size), size+1024)
	sum := sha256.Sum256(data)
	info := "pkgname = p\npkgver = 1.0-r0\narch = x86_64\ndatahash = " + hex.EncodeToString(sum[:]) + "\n"
	ctl := append(memtest.TarHeader(".PKGINFO", int64(len(info))), info...)
	ctl = append(ctl, make([]byte, 512-len(info)%512)...)
	return bomb, append(memtest.GzipBomb(ctl, 0), data...)
}

// TestOutputBombs: the output check streams each package into staging
// and checks it there: a control member that inflates to 5 GiB is a
// problem found after inflating 4 MiB, and a package of 256 MiB is
// accepted, the heap staying far below either.
func TestOutputBombs(t *testing.T) {
	bomb, big := bombAPKs()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for name, b := range map[string][]byte{"bomb-1.0-r0.apk": bomb, "p-1.0-r0.apk": big} {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "main/x86_64/" + name, Mode: 0o644, Size: int64(len(b))})
			tw.Write(b)
		}
		pw.CloseWithError(tw.Close())
	}()
	stateDir := t.TempDir()
	j := &Job{Arch: "x86_64", Version: "1.0-r0", Packages: []string{"p"}}
	var (
		acc      []output
		problems []string
		err      error
	)
	before := apk.InflatedBytes()
	peak := memtest.Peak(func() { acc, _, problems, err = checkOutputs(j, pr, stagingDir(stateDir, "x86_64")) })
	n := apk.InflatedBytes() - before
	t.Logf("output check of a %d-byte bomb and a %d-byte package of 256 MiB: inflated %.1f MiB, peak heap %.1f MiB",
		len(bomb), len(big), float64(n)/(1<<20), memtest.MiB(peak))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "bomb-1.0-r0.apk: not a valid apk") || !strings.Contains(problems[0], "inflates to more than 4 MiB") {
		t.Errorf("problems %q, want the bomb refused at the control cap", problems)
	}
	if len(acc) != 1 || acc[0].pf.Info.Name != "p" {
		t.Fatalf("accepted %v, want p", acc)
	}
	if n > 256<<20+8<<20 || peak > 100<<20 {
		t.Errorf("inflated %d bytes with a peak heap of %.1f MiB: want the bomb stopped at its cap, under 100 MiB", n, memtest.MiB(peak))
	}
	rel, _, err := stage(stateDir, "x86_64", acc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(stateDir, rel[0]))
	if err != nil || st.Size() != int64(len(big)) {
		t.Fatalf("staged %v: %v", rel, err)
	}
	if ents, _ := os.ReadDir(stagingDir(stateDir, "x86_64")); len(ents) != 1 {
		t.Errorf("staging holds %d files, want the one package", len(ents))
	}
}
