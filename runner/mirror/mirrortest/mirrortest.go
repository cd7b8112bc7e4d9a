// Package mirrortest starts real mirrors on 127.0.0.1 for tests: an rsync
// daemon and an OpenSSH sshd with throwaway keys, each stopped (its whole
// process group) when the test ends, and a listener that accepts and never
// answers. A missing program skips the test outside CI and fails it under
// CI (internal/alpinetest.SkipOrFail).
package mirrortest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// Daemon is an rsync daemon serving one module.
type Daemon struct {
	Port   int
	Module string
	// Dir is the module's directory on this machine.
	Dir string
	// User and PasswordFile are set when the module needs a password.
	User         string
	PasswordFile string
	// Log is the daemon's log file.
	Log string
}

// URL is the rsync:// URL of the module's root.
func (d *Daemon) URL() string {
	u := ""
	if d.User != "" {
		u = d.User + "@"
	}
	return fmt.Sprintf("rsync://%s127.0.0.1:%d/%s", u, d.Port, d.Module)
}

// DaemonOptions configure StartDaemon.
type DaemonOptions struct {
	// Dir is the module's directory, made when missing; empty: a new
	// temporary one.
	Dir string
	// ReadOnly leaves the module read only, as rsyncd.conf's default is.
	ReadOnly bool
	// Password makes the module need user "apkfarm" and a password, which
	// PasswordFile holds for the client.
	Password bool
}

// StartDaemon starts `rsync --daemon --no-detach` on a free port of
// 127.0.0.1 with a module "repo" that writes as the test's own user.
func StartDaemon(t testing.TB, o DaemonOptions) *Daemon {
	t.Helper()
	alpinetest.RequireCommand(t, "rsync", "apt-get install rsync")
	tmp := t.TempDir()
	d := &Daemon{Module: "repo", Dir: o.Dir, Log: filepath.Join(tmp, "rsyncd.log")}
	if d.Dir == "" {
		d.Dir = filepath.Join(tmp, "module")
	}
	mkdir(t, d.Dir)
	var conf strings.Builder
	fmt.Fprintf(&conf, "use chroot = no\nuid = %d\ngid = %d\nlog file = %s\nnumeric ids = yes\n[%s]\n  path = %s\n  read only = %t\n",
		os.Getuid(), os.Getgid(), d.Log, d.Module, d.Dir, o.ReadOnly)
	if o.Password {
		d.User = "apkfarm"
		secrets := filepath.Join(tmp, "rsyncd.secrets")
		writeFile(t, secrets, "apkfarm:s3cret-for-tests\n", 0o600)
		d.PasswordFile = filepath.Join(tmp, "client.password")
		writeFile(t, d.PasswordFile, "s3cret-for-tests\n", 0o600)
		fmt.Fprintf(&conf, "  auth users = apkfarm\n  secrets file = %s\n", secrets)
	}
	cfg := filepath.Join(tmp, "rsyncd.conf")
	writeFile(t, cfg, conf.String(), 0o644)
	d.Port = startListening(t, "rsync daemon", func(port int) *exec.Cmd {
		return exec.Command("rsync", "--daemon", "--no-detach", "--config="+cfg,
			"--address=127.0.0.1", "--port="+strconv.Itoa(port))
	})
	return d
}

// SSHD is an OpenSSH server that lets the test's own user in with a
// throwaway key, which KnownHosts holds the host key of.
type SSHD struct {
	Port int
	User string
	// IdentityFile logs in; KnownHosts has the host's key for
	// [127.0.0.1]:Port; HostKeyLine is that line.
	IdentityFile string
	KnownHosts   string
	HostKeyLine  string
}

// URL is the ssh:// URL of dir on this server.
func (s *SSHD) URL(dir string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", s.User, s.Port, dir)
}

// StartSSHD starts Debian's sshd on a free port of 127.0.0.1 with fresh
// host and user keys. It needs root (sshd's privilege separation).
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	alpinetest.RequireRoot(t)
	alpinetest.RequireCommand(t, "ssh", "apt-get install openssh-client")
	alpinetest.RequireCommand(t, "ssh-keygen", "apt-get install openssh-client")
	alpinetest.RequireCommand(t, "rsync", "apt-get install rsync")
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		alpinetest.SkipOrFail(t, "%s not found: run `make deps` (apt-get install openssh-server)", sshd)
	}
	// What the openssh-server service makes when it starts.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd privilege separation directory: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	hostKey := Keygen(t, filepath.Join(tmp, "host_ed25519"))
	s := &SSHD{User: u.Username, IdentityFile: filepath.Join(tmp, "id_ed25519")}
	userPub := Keygen(t, s.IdentityFile)
	auth := filepath.Join(tmp, "authorized_keys")
	writeFile(t, auth, userPub, 0o600)
	cfg := filepath.Join(tmp, "sshd_config")
	// SetEnv SHLVL=1: bash, the user's shell, then does not read
	// ~/.bashrc for the commands ssh runs (as it does when it is the first
	// shell of an ssh session); what a test machine's root has there is
	// none of these tests' business, and can take seconds.
	s.Port = startListening(t, "sshd", func(port int) *exec.Cmd {
		writeFile(t, cfg, fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers %s
SetEnv SHLVL=1
`, port, filepath.Join(tmp, "host_ed25519"), auth, u.Username), 0o644)
		return exec.Command(sshd, "-D", "-e", "-f", cfg)
	})
	s.HostKeyLine = fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, hostKey)
	s.KnownHosts = filepath.Join(tmp, "known_hosts")
	writeFile(t, s.KnownHosts, s.HostKeyLine, 0o644)
	return s
}

// Keygen makes an ed25519 key pair at path (and path.pub) and returns the
// public key's line.
func Keygen(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "apkfarm-test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Hang listens on 127.0.0.1 and accepts connections that it never answers
// nor reads from, until the test ends. It returns the address.
func Hang(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedPort returns a port of 127.0.0.1 nothing listened on a moment ago.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// startListening starts the server cmd(port) makes, on a port free a
// moment before, in its own process group, and waits until it accepts
// connections. A server that exits first (another process took the port
// in between) is started again on another port. The group is killed when
// the test ends.
func startListening(t testing.TB, what string, cmd func(port int) *exec.Cmd) int {
	t.Helper()
	var last string
	for range 5 {
		port := ClosedPort(t)
		c := cmd(port)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		out := &syncBuffer{}
		c.Stdout, c.Stderr = out, out
		if err := c.Start(); err != nil {
			t.Fatalf("start %s: %v", what, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait() }()
		if waitListening(port, exited) {
			t.Cleanup(func() {
				syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				<-exited
				if t.Failed() {
					t.Logf("%s output:\n%s", what, out.String())
				}
			})
			return port
		}
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		last = out.String()
	}
	t.Fatalf("start %s: it exited before listening, five times; last output:\n%s", what, last)
	return 0
}

// waitListening waits until port accepts a connection (true) or the server
// exits (false). A server that is still starting after 20 s is a failure
// of the machine, not a race: it also gives false.
func waitListening(port int, exited chan error) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			// Accepting, and ours: it did not exit for want of the port.
			select {
			case err := <-exited:
				exited <- err
				return false
			case <-time.After(50 * time.Millisecond):
				return true
			}
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
