// Package depcheck holds a test that enforces the dependency budget of the
// packages that promise one: runner/apk uses only the standard library and
// klauspost/compress; runner/plan does no I/O of its own.
package depcheck
