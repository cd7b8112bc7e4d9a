// Package imagetest makes real test images for the image store and the
// executors: Alpine's minirootfs tarballs from ../shared/alpine turned into
// OCI images (go-containerregistry), served from an in-memory registry on
// 127.0.0.1 that counts the requests it answers.
package imagetest
