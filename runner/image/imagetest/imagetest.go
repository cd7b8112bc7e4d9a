package imagetest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/image"
)

// Registry is an in-memory OCI registry on 127.0.0.1.
type Registry struct {
	Host  string // "127.0.0.1:PORT"
	srv   *httptest.Server
	blobs atomic.Int64
	reqs  atomic.Int64
}

// NewRegistry starts a registry, stopped when t ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.reqs.Add(1)
		if strings.Contains(req.URL.Path, "/blobs/") && req.Method == http.MethodGet {
			r.blobs.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// BlobGets is how many blob downloads (GET /v2/.../blobs/...) it served.
func (r *Registry) BlobGets() int64 { return r.blobs.Load() }

// Requests is how many requests it served.
func (r *Registry) Requests() int64 { return r.reqs.Load() }

// AlpineImage returns the arch's minirootfs as a one-layer image with the
// arch's platform in its config. It skips (fails under CI) when the
// tarball is missing.
func AlpineImage(t testing.TB, arch string) v1.Image {
	t.Helper()
	path, err := alpinetest.TarballPath(arch)
	if err != nil {
		alpinetest.SkipOrFail(t, "%v", err)
	}
	plat, err := image.Platform(arch)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatalf("layer from %s: %v", path, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Push pushes img to the registry as repo:tag and returns the reference.
func (r *Registry) Push(t testing.TB, img v1.Image, repoTag string) string {
	t.Helper()
	ref := r.Host + "/" + repoTag
	n, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

// AlpineRef returns a "rootfs:" reference to the arch's minirootfs
// tarball, for tests that need an image but not a registry. It skips
// (fails under CI) when the tarball is missing.
func AlpineRef(t testing.TB, arch string) string {
	t.Helper()
	path, err := alpinetest.TarballPath(arch)
	if err != nil {
		alpinetest.SkipOrFail(t, "%v", err)
	}
	return "rootfs:" + path
}
