package image_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

func age(t *testing.T, p string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func countBlobs(t *testing.T, cache string) int {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(cache, "oci/blobs/sha256"))
	return len(ents)
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	reg := imagetest.NewRegistry(t)
	ref := reg.Push(t, imagetest.AlpineImage(t, "x86_64"), "alpine:prune")
	cache := t.TempDir()
	st, err := image.NewStore(cache, image.WithResolveTTL(0))
	if err != nil {
		t.Fatal(err)
	}
	regDir, regDigest, err := st.Rootfs(ctx, ref, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	tarDir, tarDigest, err := st.Rootfs(ctx, imagetest.AlpineRef(t, "x86_64"), "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if countBlobs(t, cache) == 0 {
		t.Fatal("no blobs cached")
	}
	crashed := filepath.Join(cache, "rootfs", ".unpack-123")
	os.Mkdir(crashed, 0o755)

	// Recently used: nothing goes.
	removed, err := st.Prune(ctx, 24*time.Hour)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Prune of fresh images = %v, %v", removed, err)
	}
	// Unused for two days, one of them mounted as a session's lower layer.
	age(t, regDir, 48*time.Hour)
	age(t, tarDir, 48*time.Hour)
	age(t, crashed, 2*time.Hour)
	mounted := false
	if os.Geteuid() == 0 {
		base := t.TempDir()
		for _, d := range []string{"u", "w", "m"} {
			os.Mkdir(filepath.Join(base, d), 0o755)
		}
		opts := "lowerdir=" + tarDir + ",upperdir=" + base + "/u,workdir=" + base + "/w"
		if err := unix.Mount("overlay", base+"/m", "overlay", 0, opts); err != nil {
			t.Fatalf("mount an overlay over the rootfs: %v", err)
		}
		mounted = true
		defer unix.Unmount(base+"/m", unix.MNT_DETACH)
	}
	removed, err = st.Prune(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{regDigest}
	if !mounted {
		want = append(want, tarDigest)
	}
	slices.Sort(want)
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("Prune removed %v, want %v (tarball rootfs mounted: %v)", removed, want, mounted)
	}
	if _, err := os.Stat(regDir); !os.IsNotExist(err) {
		t.Errorf("pruned rootfs still there: %v", err)
	}
	if _, err := os.Stat(tarDir); (err == nil) != mounted {
		t.Errorf("mounted rootfs: stat = %v, mounted = %v", err, mounted)
	}
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("old .unpack- directory kept")
	}
	if n := countBlobs(t, cache); n != 0 {
		t.Errorf("%d blobs left after the only image was pruned", n)
	}
	// Pulling again works and downloads again.
	before := reg.BlobGets()
	if _, _, err := st.Rootfs(ctx, ref, "x86_64"); err != nil {
		t.Fatal(err)
	}
	if reg.BlobGets() == before {
		t.Errorf("re-pull after prune downloaded nothing")
	}
}
