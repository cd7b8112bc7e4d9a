// Package builder runs the planned builds: each job in a fresh session of an
// executor.Executor (a container per build), in batches per arch, several at
// a time, with logs, limits and output checks.
//
// A job goes through two phases in one session. Prepare, with network: the
// aport directory is copied in, build dependencies are installed with the
// image's real apk from its repositories plus a local repository of the
// packages this run built earlier, and the prepare command fetches the
// sources. Build, with network only for options="net": the build command
// writes packages into $REPODEST. The runner copies $REPODEST out, checks
// every package the job expects (valid apk, name, version, arch) and stages
// them under <state dir>/staging/<arch>/.
//
// A failed package is a result, not an error: it is recorded (with a failure
// class, see package state) and its dependents are blocked while everything
// else goes on. Run returns an error only for trouble that is nobody's
// package's fault and stops the run (bad input, the state directory, the
// context cancelled).
//
// Every attempt's output streams to <state dir>/logs/<arch>/<pkgname>/
// <version>-<n>.log as it runs, each line stamped with the time since the
// attempt began, capped in size, and is gzip-compressed when the attempt
// ends.
package builder
