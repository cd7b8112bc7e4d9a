package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

func TestPlatform(t *testing.T) {
	want := map[string]string{
		"x86_64": "linux/amd64", "aarch64": "linux/arm64", "armv7": "linux/arm/v7",
		"armhf": "linux/arm/v6", "x86": "linux/386", "riscv64": "linux/riscv64",
		"ppc64le": "linux/ppc64le", "s390x": "linux/s390x", "loongarch64": "linux/loong64",
	}
	for arch, w := range want {
		p, err := image.Platform(arch)
		if err != nil {
			t.Fatalf("Platform(%q): %v", arch, err)
		}
		if got := p.String(); got != w {
			t.Errorf("Platform(%q) = %s, want %s", arch, got, w)
		}
	}
	if len(image.Arches()) != len(want) {
		t.Errorf("Arches() = %v, want %d arches", image.Arches(), len(want))
	}
	if _, err := image.Platform("amd64"); err == nil || !strings.Contains(err.Error(), `unknown arch "amd64"`) {
		t.Errorf("Platform(amd64) = %v, want an unknown-arch error", err)
	}
}

func readArch(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "etc/apk/arch"))
	if err != nil {
		t.Fatalf("unpacked rootfs: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func TestRegistryPullCachesByDigest(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	amd := imagetest.AlpineImage(t, "x86_64")
	arm := imagetest.AlpineImage(t, "aarch64")
	single := reg.Push(t, amd, "alpine:x86_64-only")
	// A multi-arch index, as alpine:edge is on Docker Hub.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	multi := reg.Host + "/alpine:edge"
	n, _ := name.ParseReference(multi, name.Insecure)
	if err := remote.WriteIndex(n, idx); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	var last, calls atomic.Int64
	var total int64
	st, err := image.NewStore(cache, image.WithProgress(func(done, tot int64) { calls.Add(1); last.Store(done); total = tot }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir, digest, err := st.Rootfs(ctx, multi, "aarch64")
	if err != nil {
		t.Fatalf("pull %s aarch64: %v", multi, err)
	}
	armDigest, _ := arm.Digest()
	if digest != armDigest.String() {
		t.Errorf("digest = %s, want the arm64 image's %s", digest, armDigest)
	}
	if got := readArch(t, dir); got != "aarch64" {
		t.Errorf("/etc/apk/arch = %q, want aarch64", got)
	}
	if calls.Load() == 0 || total == 0 || last.Load() != total {
		t.Errorf("progress: %d calls, last %d of %d; want calls ending at done == total > 0", calls.Load(), last.Load(), total)
	}
	if reg.BlobGets() == 0 {
		t.Fatal("first pull fetched no blobs")
	}

	// Second pull from the same Store: the tag was just resolved, so no
	// request at all.
	reqs0 := reg.Requests()
	if dir2, _, err := st.Rootfs(ctx, multi, "aarch64"); err != nil || dir2 != dir {
		t.Fatalf("second pull = %s, %v", dir2, err)
	}
	if got := reg.Requests() - reqs0; got != 0 {
		t.Errorf("second pull within the resolve TTL made %d requests, want 0", got)
	}
	// A new Store on the same directory (a later run) that resolves every
	// time: manifests only, no blob download, same directory.
	st2, err := image.NewStore(cache, image.WithResolveTTL(0))
	if err != nil {
		t.Fatal(err)
	}
	before, reqs1 := reg.BlobGets(), reg.Requests()
	for range 2 {
		dir2, digest2, err := st2.Rootfs(ctx, multi, "aarch64")
		if err != nil {
			t.Fatal(err)
		}
		if dir2 != dir || digest2 != digest {
			t.Errorf("cached pull = %s %s, want %s %s", dir2, digest2, dir, digest)
		}
	}
	if got := reg.BlobGets() - before; got != 0 {
		t.Errorf("cached pulls fetched %d blobs, want 0", got)
	}
	if got := reg.Requests() - reqs1; got < 2 {
		t.Errorf("pulls with resolve TTL 0 made %d requests, want the manifest asked each time", got)
	}
	// Pinned by digest: no request at all.
	reqs := reg.Requests()
	if _, _, err := st.Rootfs(ctx, reg.Host+"/alpine@"+digest, "aarch64"); err != nil {
		t.Fatal(err)
	}
	if got := reg.Requests() - reqs; got != 0 {
		t.Errorf("pull by cached digest made %d registry requests, want 0", got)
	}

	// The x86_64 side of the index, then a single-arch image for the wrong arch.
	dir, _, err = st.Rootfs(ctx, multi, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if got := readArch(t, dir); got != "x86_64" {
		t.Errorf("/etc/apk/arch = %q, want x86_64", got)
	}
	_, _, err = st.Rootfs(ctx, single, "aarch64")
	if err == nil || !strings.Contains(err.Error(), "image is for linux/amd64, not linux/arm64") {
		t.Errorf("pull amd64-only image for aarch64 = %v, want a platform mismatch error", err)
	}
	_, _, err = st.Rootfs(ctx, multi, "riscv64")
	if err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("pull for an arch the index lacks = %v, want an error naming riscv64", err)
	}
	assertNoTemp(t, cache)
}

func assertNoTemp(t *testing.T, cache string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(cache, "rootfs"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".unpack-") {
			t.Errorf("leftover temporary directory %s", e.Name())
		}
	}
}

func TestLocalSources(t *testing.T) {
	ctx := context.Background()
	st, err := image.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := imagetest.AlpineRef(t, "x86_64")
	dir, digest, err := st.Rootfs(ctx, ref, "x86_64")
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	if readArch(t, dir) != "x86_64" || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("rootfs tarball gave %s %s", dir, digest)
	}
	if _, err := os.Stat(filepath.Join(dir, "sbin/apk")); err != nil {
		t.Errorf("rootfs lacks apk: %v", err)
	}
	// The same tarball for the wrong arch: caught by /etc/apk/arch.
	if _, _, err := st.Rootfs(ctx, imagetest.AlpineRef(t, "aarch64"), "x86_64"); err == nil || !strings.Contains(err.Error(), "aarch64 root filesystem") {
		t.Errorf("aarch64 tarball for x86_64 = %v, want an arch mismatch error", err)
	}

	// An OCI layout with two tagged images.
	lp := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(lp, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	amd := imagetest.AlpineImage(t, "x86_64")
	arm := imagetest.AlpineImage(t, "aarch64")
	p.AppendImage(amd, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "edge"}))
	p.AppendImage(arm, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "edge-arm"}))
	armDigest, _ := arm.Digest()
	for _, tc := range []struct{ ref, arch, want, err string }{
		{ref: "oci-layout:" + lp + ":edge", arch: "x86_64", want: "x86_64"},
		{ref: "oci-layout:" + lp, arch: "aarch64", want: "aarch64"},
		{ref: "oci-layout:" + lp + "@" + armDigest.String(), arch: "aarch64", want: "aarch64"},
		{ref: "oci-layout:" + lp + ":edge", arch: "aarch64", err: "no linux/arm64 image matching :edge"},
		{ref: "oci-layout:" + lp + ":nope", arch: "x86_64", err: "no image matching :nope"},
		{ref: "oci-layout:/nonexistent", arch: "x86_64", err: "open OCI layout"},
		{ref: "rootfs:/nonexistent.tar.gz", arch: "x86_64", err: "open rootfs tarball"},
		{ref: "Bad Ref", arch: "x86_64", err: "parse image reference"},
		{ref: ref, arch: "sparc", err: `unknown arch "sparc"`},
	} {
		dir, _, err := st.Rootfs(ctx, tc.ref, tc.arch)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Rootfs(%s, %s) = %v, want error containing %q", tc.ref, tc.arch, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Rootfs(%s, %s): %v", tc.ref, tc.arch, err)
			continue
		}
		if got := readArch(t, dir); got != tc.want {
			t.Errorf("Rootfs(%s, %s) arch %s, want %s", tc.ref, tc.arch, got, tc.want)
		}
	}
}

func TestFailedUnpackLeavesNothing(t *testing.T) {
	cache := t.TempDir()
	st, err := image.NewStore(cache)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(strings.TrimPrefix(imagetest.AlpineRef(t, "x86_64"), "rootfs:"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "truncated.tar.gz")
	os.WriteFile(bad, src[:len(src)/2], 0o644)
	if _, _, err := st.Rootfs(context.Background(), "rootfs:"+bad, "x86_64"); err == nil {
		t.Fatal("truncated tarball unpacked without error")
	}
	// Cancelled mid-way: an error, and nothing half-unpacked.
	ctx, cancel := context.WithCancel(context.Background())
	st2, _ := image.NewStore(cache, image.WithProgress(func(done, total int64) {
		if done > total/3 {
			cancel()
		}
	}))
	if _, _, err := st2.Rootfs(ctx, imagetest.AlpineRef(t, "x86_64"), "x86_64"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled unpack = %v, want context.Canceled", err)
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "rootfs"))
	if len(ents) != 0 {
		t.Errorf("failed unpacks left %v in the store", ents)
	}
}

func BenchmarkFirstUnpack(b *testing.B) {
	// The cost of a cache miss that already has the blobs: unpacking the
	// x86_64 minirootfs (3.4 MB gzip, ~500 entries) into a fresh store.
	ref := imagetest.AlpineRef(b, "x86_64")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st, err := image.NewStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, _, err := st.Rootfs(context.Background(), ref, "x86_64"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLayersAndWhiteouts pulls a two-layer image whose second layer deletes
// a file (whiteout), empties a directory (opaque whiteout), adds a file
// and carries a device node: the unpacked rootfs must show all of it.
func TestLayersAndWhiteouts(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/.wh.motd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "etc/apk/keys/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "etc/apk/keys/apkfarm.rsa.pub", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o600, Devmajor: 8},
		{Name: "../../escaped", Typeflag: tar.TypeReg, Mode: 0o644},
	} {
		tw.WriteHeader(h)
		if h.Size > 0 {
			io.WriteString(tw, "pub")
		}
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(imagetest.AlpineImage(t, "x86_64"), layer)
	if err != nil {
		t.Fatal(err)
	}
	reg := imagetest.NewRegistry(t)
	ref := reg.Push(t, img, "alpine:layered")
	cache := t.TempDir()
	st, _ := image.NewStore(cache)
	dir, _, err := st.Rootfs(context.Background(), ref, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/motd")); !os.IsNotExist(err) {
		t.Errorf("etc/motd survived its whiteout: %v", err)
	}
	keys, _ := os.ReadDir(filepath.Join(dir, "etc/apk/keys"))
	if len(keys) != 1 || keys[0].Name() != "apkfarm.rsa.pub" {
		t.Errorf("etc/apk/keys after the opaque whiteout = %v, want only apkfarm.rsa.pub", keys)
	}
	if _, err := os.Lstat(filepath.Join(dir, "dev/sda")); !os.IsNotExist(err) {
		t.Errorf("device node was created: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "escaped")); err != nil {
		t.Errorf("../../escaped did not land at the root: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(cache, "escaped")); err == nil {
		t.Errorf("a layer wrote outside the rootfs")
	}
}

// TestConcurrentPulls: several goroutines and two Stores (as two runner
// processes would) asking for the same image at once unpack it once and
// all get the same directory.
func TestConcurrentPulls(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	ref := reg.Push(t, imagetest.AlpineImage(t, "x86_64"), "alpine:concurrent")
	cache := t.TempDir()
	var stores []*image.Store
	for range 2 {
		st, err := image.NewStore(cache)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	type res struct {
		dir string
		err error
	}
	out := make(chan res, 6)
	for i := range 6 {
		go func() {
			dir, _, err := stores[i%2].Rootfs(context.Background(), ref, "x86_64")
			out <- res{dir, err}
		}()
	}
	var first string
	for range 6 {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		if first == "" {
			first = r.dir
		} else if r.dir != first {
			t.Errorf("got %s and %s", first, r.dir)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "rootfs"))
	if len(ents) != 1 {
		t.Errorf("rootfs/ holds %v, want one unpacked image", ents)
	}
	if readArch(t, first) != "x86_64" {
		t.Errorf("bad rootfs")
	}
}
