// Package record turns what one run decided and did into the state the
// next run and the site read: Status makes the new status.json from the
// previous one, the plan and the results of the builds, the publish and
// the mirrors; Run makes the run's record (runs/<id>.json). Both are pure
// functions of their inputs: nothing here reads a file or the clock, and
// no decision of the plan is worked out again.
package record
