// Package image turns an image reference and an apk arch into a root
// filesystem on disk, once per image digest.
//
// A Store keeps two things under its directory:
//
//	oci/                    an OCI image layout: every pulled image's blobs, by digest
//	rootfs/<arch>-sha256-<hex>/  the flattened, unpacked root filesystem of one
//	                        image, checked to be for that arch
//	prepared/<arch>-<key>/  a build root derived from an image (Prepared):
//	                        keys, repositories, packages installed by its apk
//
// Rootfs resolves a reference for an arch's OCI platform (see Platform),
// and when the image digest's rootfs is already there returns it without
// downloading a layer. Otherwise it fetches the missing blobs into the
// layout, then applies the layers in order into a temporary directory
// (whiteouts honoured, device nodes skipped, nothing written outside: see
// package tarfs) and renames it into place, so a crash never leaves a
// half-unpacked rootfs that looks complete.
//
// References take three forms:
//
//	docker.io/library/alpine:edge          a registry (authn.DefaultKeychain; plain
//	127.0.0.1:5000/alpine@sha256:...       HTTP for localhost and 127.0.0.1)
//	oci-layout:/srv/images                 an OCI layout directory: its only image,
//	oci-layout:/srv/images:edge            or the one tagged edge (org.opencontainers.image.ref.name),
//	oci-layout:/srv/images@sha256:<hex>    or the one with that digest (an index digest
//	                                       is resolved for the arch's platform)
//	rootfs:/srv/alpine-minirootfs.tar.gz   a root filesystem tarball (gzip or plain tar);
//	                                       its digest is the file's sha256
//
// The two local forms need no network, for offline sites.
package image
