// Package state owns the JSON state apkfarm writes after each run and the
// site renders: status.json, the per-arch, per-aport outcome of planning and
// building, with every build attempt kept (start, end, exit code, failure
// class, log path, the first error-looking lines).
//
// The schema is versioned (Schema) and documented in docs/state.md. Writing
// is atomic (temporary file, fsync, rename) and skipped when nothing but the
// generated time would change. A corrupt or unknown file is reported and set
// aside, never fatal: the next run starts from an empty state.
//
// The planner's failure memory reads Failures: how often the current version
// of a package has failed, so that it is not retried on every run.
package state
