package image_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/apkfarm/apkfarm/runner/image"
)

// A runner keeps one Store for all its builds; each arch's image is pulled
// and unpacked once, then every session reuses the directory.
func ExampleStore_Rootfs() {
	st, err := image.NewStore("/var/cache/apkfarm/images",
		image.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		image.WithProgress(func(done, total int64) { fmt.Fprintf(os.Stderr, "\r%d/%d bytes", done, total) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ref := range []string{
		"docker.io/library/alpine:edge",                // a registry
		"oci-layout:/srv/images:edge",                  // an OCI layout, offline
		"rootfs:/srv/alpine-minirootfs-aarch64.tar.gz", // a rootfs tarball, offline
	} {
		dir, digest, err := st.Rootfs(context.Background(), ref, "aarch64")
		fmt.Println(dir, digest, err)
	}
}
