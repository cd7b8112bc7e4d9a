// Package signer adds the farm's signatures to packages and indexes
// through a signer that builds never touch.
//
// A Signer signs what apk.PrepareSigning takes out of a file: a package's
// control member or an unsigned index. Two backends implement it:
//
//   - Keys: private key files that only the runner process reads. They are
//     never mounted into a build, copied into one or named in a build's
//     environment.
//   - Command: an external program the runner starts (for example
//     `ssh signer@host run signer --key /etc/apkfarm/farm.rsa`), which
//     speaks the protocol below on its stdin and stdout. The key then never
//     reaches the runner's host at all.
//
// Serve is the trusted side of that protocol (`run signer`): it accepts
// only a control member or an unsigned index, parses it and refuses
// anything else and anything over its size limit, logs what it signs and
// answers with the signatures. docs/signer.md describes the protocol.
//
// With several keys (a key rotation), every file gets one signature per
// key; apk uses the first by a key it trusts.
package signer
