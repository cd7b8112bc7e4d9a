// Package executortest is the conformance suite every executor.Executor
// backend passes: exit codes, output streams, files persisting across
// commands, tar copies in and out, a clean environment, cancellation that
// leaves no process behind, Close; and for real sandboxes (Options.Isolated)
// the network switch, the host's files being out of sight, and the arch.
//
// A backend's test calls Run with a constructor:
//
//	func TestConformance(t *testing.T) {
//		executortest.Run(t, func(t *testing.T) executor.Executor { return oci.New(store) },
//			executortest.Options{Arch: "x86_64", Image: ref, Isolated: true})
//	}
package executortest
