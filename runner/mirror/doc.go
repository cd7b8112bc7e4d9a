// Package mirror pushes a finished repository directory to its mirrors with
// the real rsync, and reads each mirror back to see what it serves. It
// knows nothing of how the repository was made: it takes a directory, the
// mirrors (Target, from the [[mirrors]] configuration) and the keys the
// indexes are signed with, and returns one state.MirrorResult a mirror.
//
// Push works on every mirror at once; a mirror that fails, hangs or lags is
// a result, never an error of the run, and never holds back the others.
// Each mirror gets, in this order, so that a client of the mirror never
// reads an index naming a package the mirror lacks:
//
//  1. packages: everything but the indexes, nothing deleted;
//  2. indexes: every APKINDEX.tar.gz, all put in place together at the
//     end of the pass (--delay-updates), compared by checksum;
//  3. trees: extra directories (the status site, WithTree) under their
//     sub-path, after the indexes so they never describe packages the
//     mirror does not have yet; their own stale files go here too;
//  4. delete: what the repository no longer has (delete only, nothing
//     sent); skipped when pass 1, which deletes nothing, found nothing to
//     delete (--delete --max-delete=0), so that an unchanged repository
//     costs one walk of the mirror, not two;
//
// then each index is read back (through rsync, or over HTTP from the
// mirror's check_url), checked against the keys and compared with the
// repository's bytes: a mirror serving another index is lagging.
//
// Rsync runs in its own process group, killed with it when the push is
// cancelled or runs out of time; a mirror's timeout bounds its whole push,
// retries (with a doubling backoff) and read-back included. Package files
// are not pushed with --delay-updates: their names are new to the index
// the mirror serves until pass 2, and rsync already writes each file to a
// temporary name beside it and renames it when complete, so a client
// never sees part of one; holding them all in .~tmp~ would only double the
// disk they take on the mirror and leave more behind after a kill.
//
// Check says whether a mirror can be reached and written (`run doctor`).
package mirror
