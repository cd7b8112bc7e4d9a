package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rsyncError is a failed rsync: its exit code and what it said.
type rsyncError struct {
	Code   int    // -1 when it did not exit by itself
	Stderr string // the lines that say why, joined
	Err    error  // from exec, when rsync could not start or was killed
}

func (e *rsyncError) Error() string {
	var b strings.Builder
	if e.Code >= 0 {
		fmt.Fprintf(&b, "rsync exit %d", e.Code)
		if m, ok := exitMeanings[e.Code]; ok {
			fmt.Fprintf(&b, " (%s)", m)
		}
	} else {
		fmt.Fprintf(&b, "rsync: %v", e.Err)
	}
	if e.Stderr != "" {
		b.WriteString(": " + e.Stderr)
	}
	if r := remedy(e.Stderr); r != "" {
		b.WriteString(" (" + r + ")")
	}
	return b.String()
}

func (e *rsyncError) Unwrap() error { return e.Err }

// exitMeanings are rsync's exit codes, as its manual lists them.
var exitMeanings = map[int]string{
	1: "syntax or usage error", 2: "protocol incompatibility", 3: "errors selecting input/output files, dirs",
	5: "error starting client-server protocol", 10: "error in socket I/O", 11: "error in file I/O",
	12: "error in rsync protocol data stream", 23: "partial transfer due to error",
	24: "partial transfer due to vanished source files", 30: "timeout in data send/receive",
	35: "timeout waiting for daemon connection", 255: "ssh failed",
}

// remedies: what to do about the messages rsync and ssh print for a
// mirror that is set up wrong (permanent: a retry cannot help).
var remedies = []struct {
	says, do  string
	permanent bool
}{
	{"has changed and you have requested strict checking", "the mirror's host key is not the one in known_hosts: if the mirror's key really changed, replace its line after checking the new fingerprint; if not, something is in between", true},
	{"Host key verification failed", "the mirror's host key is not in known_hosts: add it (ssh-keyscan, then check its fingerprint); unknown keys are never accepted", true},
	{"Permission denied (publickey", "the public key of identity_file is not in the mirror user's authorized_keys", true},
	{"auth failed on module", "check password_file against the daemon's secrets file and auth users", true},
	{"is read only", "set `read only = no` for the module in rsyncd.conf", true},
	{"Unknown module", "the daemon has no such module: check the url against rsyncd.conf", true},
	{"chdir failed", "the module's path does not exist on the daemon's machine", true},
	{"password file must not be other-accessible", "chmod 600 the password_file", true},
	{"Connection refused", "nothing listens there: is the daemon or sshd running?", false},
	{"command not found", "rsync is not installed on the mirror", true},
}

func remedy(stderr string) string {
	for _, r := range remedies {
		if strings.Contains(stderr, r.says) {
			return r.do
		}
	}
	return ""
}

// permanent says whether retrying cannot help: the mirror is set up wrong,
// not busy or away.
func permanent(err error) bool {
	var re *rsyncError
	if !errors.As(err, &re) {
		return false
	}
	if re.Code == 1 || re.Code == 2 {
		return true
	}
	for _, r := range remedies {
		if r.permanent && strings.Contains(re.Stderr, r.says) {
			return true
		}
	}
	return false
}

// stats is what one rsync reported.
type stats struct {
	BytesSent int64
	// DeletesHeld: --max-delete kept rsync from deleting something. A
	// local rsync says so with exit code 25 and a message; one pushing to
	// a daemon only with the message, which the daemon relays.
	DeletesHeld bool
}

// exitMaxDelete is rsync's exit code when --max-delete held deletions
// back, and nothing worse happened.
const exitMaxDelete = 25

const (
	// waitDelay: after rsync is killed, how long its output pipes may stay
	// open (held by a process that left the group) before Push moves on.
	waitDelay = 5 * time.Second
	maxStdout = 64 << 10
	maxStderr = 16 << 10
)

// rsync runs the rsync program with args (and stdin when not nil) in a
// process group of its own, killed whole when ctx ends.
func rsync(ctx context.Context, program string, args []string, stdin []byte) (stats, error) {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env = rsyncEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// The group: rsync's receiver or ssh would outlive rsync alone.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	stdout := &capped{max: maxStdout}
	stderr := &capped{max: maxStderr, tail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	st := parseStats(stdout.b.String())
	st.DeletesHeld = strings.Contains(stderr.b.String(), "--max-delete limit")
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) && ee.ExitCode() == exitMaxDelete {
		st.DeletesHeld = st.DeletesHeld || err != nil
		return st, nil
	}
	re := &rsyncError{Code: -1, Stderr: why(stderr.b.String()), Err: err}
	if ee != nil && ee.Exited() {
		re.Code = ee.ExitCode()
	}
	return st, re
}

// rsyncEnv is the environment rsync runs in: the runner's, with messages
// and numbers in the C locale and without what would change where rsync
// goes or how it logs in behind the configuration's back.
func rsyncEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "RSYNC_PASSWORD", "RSYNC_RSH", "RSYNC_CONNECT_PROG", "SSH_AUTH_SOCK", "LC_ALL", "LANG", "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// parseStats reads --stats output ("Total bytes sent: 1234", --no-h).
func parseStats(out string) stats {
	var st stats
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Total bytes sent: "); ok {
			n, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(strings.TrimSpace(v)), 10, 64)
			if err == nil {
				st.BytesSent += n
			}
		}
	}
	return st
}

// why keeps the lines of rsync's stderr that say what went wrong: not its
// closing "rsync error: ... (code N)" summary, which the exit code says.
func why(stderr string) string {
	// ssh's banner around a refused host key says less than its lines
	// about the key.
	hostKey := strings.Contains(stderr, "Host key verification failed")
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "rsync error: ") ||
			hostKey && !strings.HasPrefix(l, "Offending") && !strings.HasPrefix(l, "Host key") && !strings.Contains(l, "host key is known") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 4 {
		keep = keep[len(keep)-4:]
	}
	return strings.Join(keep, "; ")
}

// capped keeps at most max bytes of what is written to it: the head, or
// the tail when tail is set.
type capped struct {
	b    bytes.Buffer
	max  int
	tail bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if !c.tail {
		if room := c.max - c.b.Len(); room > 0 {
			c.b.Write(p[:min(room, len(p))])
		}
		return n, nil
	}
	c.b.Write(p)
	if over := c.b.Len() - c.max; over > 0 {
		c.b.Next(over)
	}
	return n, nil
}
