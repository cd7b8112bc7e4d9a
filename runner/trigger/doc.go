// Package trigger owns WHEN runs happen: a cron schedule (`run --every`),
// an HTTP listener for GitLab push hooks and manual requests (`run
// --listen`), the rule that runs never overlap, and what happens to the run
// under way when the process is asked to stop. It knows nothing about what
// a run does: the caller gives a RunFunc, and the Server calls it, one call
// at a time.
//
// Requests that arrive while a run is under way:
//   - a schedule tick is skipped (logged, not queued): the next tick runs;
//   - a push hook or a POST /hook/run queues ONE follow-up run; every later
//     one coalesces into it (its --only selection is the union of theirs,
//     or the whole tree when any of them asked for the whole tree).
//
// The HTTP side serves:
//
//	POST /hook/gitlab          GitLab push events, X-Gitlab-Token checked
//	POST /hook/run?only=a,b    a run narrowed to those aports, same token
//	GET  /healthz              the last run, its age, whether one is running
//
// The token is compared in constant time; bodies are capped; every answer
// of these three is a small JSON object. docs/operations.md shows how to run it under
// systemd.
//
// ParsePush, the reader of GitLab's push event, is fuzzed (FuzzParsePush);
// ParseSchedule wraps the cron parser so that no expression panics.
package trigger
