// Package oci runs builds in OCI containers with runc (or crun, which takes
// the same command line; runtime.go lists what differs and how the backend
// deals with it).
//
// A Session is a directory under the executor's work directory:
//
//	<workdir>/<session>/lock      flock'd while the session's runner lives (Sweep skips it)
//	<workdir>/<session>/root      the build's root: an overlayfs (lower = the image's
//	                              cached rootfs, read-only; upper/work beside it) or,
//	                              where overlayfs is unavailable, a copy of the rootfs
//	<workdir>/<session>/exec-N/   the OCI bundle (config.json) of the Nth Exec
//
// Each Exec is its own `runc run` of a container named
// apkfarm-<session>-<N> over that same root, so files persist from one
// command to the next while every command gets fresh namespaces: mount,
// pid, ipc, uts, cgroup, and network unless ExecRequest.Network is set
// (runc brings the new namespace's loopback up). No user namespace: a build
// is root inside the container and the host's uid 0 outside, with the
// capability set cut to what apk and abuild need (see Capabilities),
// no_new_privileges, a seccomp filter refusing new namespaces, the keyring,
// BPF and the like (see seccomp.go), runc's default masked and read-only
// paths, and memory
// and pids limits in a cgroup (runc: under the runner's own; crun: at the
// hierarchy's root) when the host has the controllers. With the pid namespace, killing the container's init kills
// every process of the command. A command that is killed (or whose runc
// dies) is then reaped: whatever is left in its cgroups is killed and its
// runtime state and cgroups removed, including what runc never recorded
// because it died creating the container (see reap).
//
// A runner that dies by SIGKILL leaves containers, mounts and directories
// behind; Sweep removes those whose session lock is no longer held.
package oci
