// Package repo owns the farm's repository directories: what is published
// (<dir>/<arch>/APKINDEX.tar.gz, the packages beside it, and <dir>/keys/
// with the public keys), the staging area where a run's builds leave their
// packages, and the one way from one to the other: Publish signs every new
// package and each index through a signer.Signer, and promotes them so
// that no client ever sees a broken repository.
//
// Promotion, per arch:
//
//  1. Every new package is signed and written into the arch's directory
//     (durably). A file that is published (named by the index, or left it
//     less than the grace period ago) is never overwritten with other
//     bytes: that package is rejected, not published.
//  2. The times at which files leave the index are written to a journal.
//  3. The new index (what stays, plus the new packages, minus what the
//     plan removes and what a newer version replaces) is signed and
//     renamed over the old one: the only step clients see.
//  4. Files that left the index more than the grace period ago, and files
//     no index ever named (left by a run that was killed), are deleted.
//
// A SIGKILL at any step leaves an index that names only files that exist
// with the right size and checksum; the next run converges to what an
// uninterrupted one would have published.
package repo
