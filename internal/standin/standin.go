// Package standin makes build images with the stand-in abuild
// (internal/fakeabuild) for the tests with real containers and for `make
// demo`: the Alpine minirootfs plus /usr/bin/abuild, /usr/bin/abuild-keygen
// and an empty /etc/apk/repositories (no internet: apk installs build
// dependencies from the run's own packages only).
package standin

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
)

// Package is the import path of the stand-in abuild.
const Package = "github.com/apkfarm/apkfarm/internal/fakeabuild"

// GoArch maps the apk arches the stand-in is built for to GOARCH.
var GoArch = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "x86": "386", "armv7": "arm", "armhf": "arm",
	"riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x", "loongarch64": "loong64"}

// goArm is GOARM for the 32-bit Arm arches: armv7, and armhf (ARMv6 with
// VFP, as Alpine builds it).
var goArm = map[string]string{"armv7": "7", "armhf": "6"}

// Binary builds the stand-in abuild for arch, static, into out. It needs
// the go command in $PATH (go test and go run put theirs first) and the
// module's source around the working directory.
func Binary(ctx context.Context, arch, out string) error {
	goarch, ok := GoArch[arch]
	if !ok {
		return fmt.Errorf("build stand-in abuild: no GOARCH for arch %q", arch)
	}
	if arch == "x86" && runtime.GOARCH == "amd64" {
		// Go's 386 runtime crashes under qemu-i386 7.2 ("fatal: morestack
		// on gsignal" as its second thread starts), which runs x86 builds
		// on kernels without IA-32 emulation. An x86_64 kernel runs the
		// amd64 build in an x86 root either way; the build's shell and
		// tools (busybox, apk) stay the root's i386 ones.
		goarch = "amd64"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if v := goArm[arch]; v != "" {
		cmd.Env = append(cmd.Env, "GOARM="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build stand-in abuild for %s: %w\n%s", arch, err, b)
	}
	return nil
}

// mtime is the time of every entry the layer adds: the same bytes each
// time, so the layer's digest is stable.
var mtime = time.Unix(1700000000, 0)

// Layer returns an uncompressed tar layer adding the stand-in abuild bin
// as /usr/bin/abuild, the abuild-keygen link and an empty
// /etc/apk/repositories.
func Layer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeLayer(tw, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image returns base with the layer of the stand-in abuild bin on top.
func Image(base v1.Image, bin []byte) (v1.Image, error) {
	b, err := Layer(bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		return nil, fmt.Errorf("stand-in layer: %w", err)
	}
	return mutate.AppendLayers(base, layer)
}

func writeLayer(tw *tar.Writer, bin []byte) error {
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: "usr/bin/abuild", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime},
		{Typeflag: tar.TypeSymlink, Name: "usr/bin/abuild-keygen", Linkname: "abuild", Mode: 0o777, ModTime: mtime},
		{Typeflag: tar.TypeReg, Name: "etc/apk/repositories", Mode: 0o644, Size: 0, ModTime: mtime},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write stand-in layer: %w", err)
		}
		if h.Name == "usr/bin/abuild" {
			if _, err := tw.Write(bin); err != nil {
				return fmt.Errorf("write stand-in layer: %w", err)
			}
		}
	}
	return nil
}

// Rootfs writes to out a gzipped root filesystem tarball: the minirootfs
// tarball at base (gzipped) with the layer's files in place of its own,
// for a "rootfs:" image reference.
func Rootfs(base string, bin []byte, out string) error {
	f, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("make stand-in rootfs: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("make stand-in rootfs: %s: %w", base, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".rootfs-*")
	if err != nil {
		return fmt.Errorf("make stand-in rootfs: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	zw := gzip.NewWriter(tmp)
	tw := tar.NewWriter(zw)
	replaced := map[string]bool{"usr/bin/abuild": true, "usr/bin/abuild-keygen": true, "etc/apk/repositories": true}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("make stand-in rootfs: read %s: %w", base, err)
		}
		if replaced[filepath.Clean(h.Name)] {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("make stand-in rootfs: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("make stand-in rootfs: read %s: %w", base, err)
		}
	}
	if err := writeLayer(tw, bin); err != nil {
		return err
	}
	for _, c := range []io.Closer{tw, zw, tmp} {
		if err := c.Close(); err != nil {
			return fmt.Errorf("make stand-in rootfs: %w", err)
		}
	}
	return os.Rename(tmp.Name(), out)
}
