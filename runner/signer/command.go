package signer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// CommandOptions tune a Command signer.
type CommandOptions struct {
	// Procs bounds the signer processes running at once (default: the
	// number of CPUs); each serves one request at a time.
	Procs int
	// Timeout bounds the start of a process with its hello, and each
	// request (default 30s). A process that does not answer in time is
	// killed.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Command signs through an external program speaking the protocol of
// Serve on its stdin and stdout, such as `ssh signer@host run signer
// --key FILE`. Processes are started as requests need them, up to Procs,
// and reused.
type Command struct {
	argv []string
	opts CommandOptions
	keys []PublicKey
	sem  chan struct{}

	mu     sync.Mutex
	idle   []*proc
	closed bool
}

// proc is one running signer process.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	c      *conn
	stderr *tailBuffer
	done   chan struct{} // closed when the process has been waited for
}

// StartCommand starts the signer command argv once, to learn its keys
// (and to fail now, not at the first package, when it cannot run).
func StartCommand(ctx context.Context, argv []string, opts CommandOptions) (*Command, error) {
	if len(argv) == 0 {
		return nil, errors.New("start signer command: empty command")
	}
	if opts.Procs <= 0 {
		opts.Procs = runtime.GOMAXPROCS(0)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Command{argv: argv, opts: opts, sem: make(chan struct{}, opts.Procs)}
	p, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	c.keys = p.c.keys
	c.idle = append(c.idle, p)
	return c, nil
}

// PublicKeys implements Signer.
func (c *Command) PublicKeys() []PublicKey { return c.keys }

// start runs one signer process and says hello.
func (c *Command) start(ctx context.Context) (*proc, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start signer command %q: %w", c.argv[0], err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	type result struct {
		c   *conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		cn, err := handshake(stdout, stdin)
		ch <- result{cn, err}
	}()
	t := time.NewTimer(c.opts.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			p.kill()
			return nil, fmt.Errorf("signer command %q: %w%s", c.argv[0], r.err, p.stderrNote())
		}
		if c.keys != nil && !sameKeys(c.keys, r.c.keys) {
			p.kill()
			return nil, fmt.Errorf("signer command %q: a new process announced other keys than the first", c.argv[0])
		}
		p.c = r.c
		return p, nil
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("signer command %q: no hello within %v%s", c.argv[0], c.opts.Timeout, p.stderrNote())
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("start signer command: %w", ctx.Err())
	}
}

// Sign implements Signer. Every signature the command answers with is
// verified against the keys it announced; a process whose answer does not
// verify, is garbage or comes late is killed and not reused.
func (c *Command) Sign(ctx context.Context, kind, name string, signed []byte) ([]apk.Signature, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	p, err := c.take(ctx)
	if err != nil {
		return nil, err
	}
	type result struct {
		sigs []apk.Signature
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		sigs, err := p.c.sign(kind, name, signed)
		ch <- result{sigs, err}
	}()
	t := time.NewTimer(c.opts.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		switch {
		case r.err == nil:
			if err := checkSignatures(r.sigs, c.keys, Item{kind, name, signed}); err != nil {
				p.kill() // a signer whose signatures do not verify is not reused
				return nil, fmt.Errorf("signer command %q: %w", c.argv[0], err)
			}
			c.put(p)
			return r.sigs, nil
		case errors.Is(r.err, errRefused):
			c.put(p)
			return nil, fmt.Errorf("sign %s %q: %w", kind, name, r.err)
		default:
			p.kill()
			return nil, fmt.Errorf("sign %s %q: signer command %q: %w%s", kind, name, c.argv[0], r.err, p.stderrNote())
		}
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("sign %s %q: signer command %q did not answer within %v%s", kind, name, c.argv[0], c.opts.Timeout, p.stderrNote())
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("sign %s %q: %w", kind, name, ctx.Err())
	}
}

// take returns an idle process, or starts one.
func (c *Command) take(ctx context.Context) (*proc, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("signer closed")
	}
	if n := len(c.idle); n > 0 {
		p := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	return c.start(ctx)
}

func (c *Command) put(p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.stop()
		return
	}
	c.idle = append(c.idle, p)
}

// Close implements Signer: it ends the idle processes (their stdin
// closes; those that do not exit within the timeout are killed).
func (c *Command) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, p := range idle {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(c.opts.Timeout):
			p.kill()
		}
	}
	return nil
}

// stop closes stdin and waits a moment before killing.
func (p *proc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// kill kills the process group and waits for the process.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Process.Kill()
	}
	p.stdin.Close()
	<-p.done
}

func (p *proc) stderrNote() string {
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		return " (its stderr: " + oneLine(s) + ")"
	}
	return ""
}

func sameKeys(a, b []PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !a[i].Key.Equal(b[i].Key) {
			return false
		}
	}
	return true
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
