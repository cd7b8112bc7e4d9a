// Package fake is an in-process executor.Executor for other packages' unit
// tests: fast, no root, no containers, no images.
//
// A session's "root filesystem" is a temporary directory. By default Exec
// runs Argv as a host process with its working directory at the session
// directory joined with ExecRequest.Dir (created if missing), an
// environment of PATH plus the request's Env, and its own process group,
// killed whole on ctx cancel, when the command exits and on Close. Argv
// names host programs and absolute paths in arguments are the host's: write
// tests that work relative to Dir ("sh -c 'echo x > out'" with Dir
// "/home/build"), and read results with CopyOut.
//
// It isolates nothing: Network is recorded, not enforced, and the host's
// files are visible. For scripted behaviour, WithHandler replaces the
// host process with a function (write the packages a build would make,
// fail on cue, ...).
//
// Every Start and Exec is recorded; see Executor.Specs and Executor.Execs.
package fake
