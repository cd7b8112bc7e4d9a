package oci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image"
)

// Prefix starts the name of every container this package creates.
const Prefix = "apkfarm-"

// DefaultWorkDir holds sessions unless WithWorkDir says otherwise.
const DefaultWorkDir = "/var/tmp/apkfarm/sessions"

type config struct {
	runtime     string
	runtimeRoot string
	workDir     string
	log         *slog.Logger
	noOverlay   bool
	killGrace   time.Duration // how long a killed runc gets to exit (tests shorten it)

	flavor      string // flavorRunc or flavorCrun (runtime.go)
	hideUnified bool   // run the runtime without the cgroup2 mount (hideUnifiedScript)
}

// Option configures an Executor (and Sweep, Inspect).
type Option func(*config)

// WithRuntime sets the OCI runtime binary: "runc" (default, from PATH),
// "crun", or a path to either. Which one it is comes from its --version.
func WithRuntime(path string) Option { return func(c *config) { c.runtime = path } }

// WithRuntimeRoot sets the runtime's state directory (runc --root); the
// default is the runtime's own (/run/runc, /run/crun), where `runc list`
// looks.
func WithRuntimeRoot(dir string) Option { return func(c *config) { c.runtimeRoot = dir } }

// WithWorkDir sets where session directories live (default
// DefaultWorkDir). It must not be on overlayfs for the overlay root to work.
func WithWorkDir(dir string) Option { return func(c *config) { c.workDir = dir } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithoutOverlay makes every session root a copy of the image's rootfs
// instead of an overlay mount (slower; for hosts where overlayfs misbehaves).
func WithoutOverlay() Option { return func(c *config) { c.noOverlay = true } }

func newConfig(opts []Option) config {
	c := config{runtime: "runc", workDir: DefaultWorkDir, log: slog.New(slog.DiscardHandler), killGrace: killGrace}
	for _, o := range opts {
		o(&c)
	}
	c.flavor = detectFlavor(c.runtime)
	c.hideUnified = c.flavor == flavorCrun && hybridWithV2Controllers()
	return c
}

// Executor runs sessions in runc containers. It implements executor.Executor.
type Executor struct {
	cfg      config
	store    *image.Store
	cgroups  Cgroups
	cgroupNS bool

	mu      sync.Mutex
	checked bool // the host checks passed once; failures are not cached
}

var _ executor.Executor = (*Executor)(nil)

// New returns an executor taking images from store.
func New(store *image.Store, opts ...Option) *Executor {
	return &Executor{cfg: newConfig(opts), store: store, cgroups: DetectCgroups(), cgroupNS: Namespaces()["cgroup"]}
}

// hostCheck runs the arch-independent checks until they pass once.
func (e *Executor) hostCheck(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.checked {
		return nil
	}
	if _, err := runtimeVersion(ctx, e.cfg); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("check host: the runc executor needs root (mounts, namespaces)")
	}
	if !e.cgroups.Limits() {
		e.cfg.log.Warn("no cgroup memory and pids controllers: builds run without memory and pids limits", "cgroups", e.cgroups.String())
	}
	e.checked = true
	return nil
}

// Check says why builds for arch cannot run here.
func (e *Executor) Check(ctx context.Context, arch string) error {
	if _, err := image.Platform(arch); err != nil {
		return err
	}
	if err := e.hostCheck(ctx); err != nil {
		return err
	}
	return CheckBinfmt(arch)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Start pulls (or reuses) the image and prepares the session's root.
func (e *Executor) Start(ctx context.Context, spec executor.Spec) (executor.Session, error) {
	if err := e.Check(ctx, spec.Arch); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	if spec.ID == "" {
		return nil, errors.New("start session: empty Spec.ID")
	}
	if err := executor.CheckMounts(spec.Mounts); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	lower, digest, err := e.rootfs(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	id := unsafeName.ReplaceAllString(spec.ID, "_")
	if len(id) > 40 {
		id = id[:40]
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	id += "-" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(e.cfg.workDir, 0o700); err != nil {
		return nil, fmt.Errorf("start %s: create work directory: %w", spec.ID, err)
	}
	dir := filepath.Join(e.cfg.workDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: lock session: %w", spec.ID, err)
	}
	s := &session{
		e: e, spec: spec, id: id, dir: dir, lock: lock,
		root: filepath.Join(dir, "root"), digest: digest,
		log: e.cfg.log.With("session", id),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.makeRoot(lower); err != nil {
		s.Close()
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	s.log.Info("session started", "image", spec.Image, "digest", digest, "arch", spec.Arch, "overlay", s.overlay)
	return s, nil
}

// makeRoot mounts the overlay root, or copies the rootfs when that fails.
func (s *session) makeRoot(lower string) error {
	if err := os.Mkdir(s.root, 0o755); err != nil {
		return err
	}
	if !s.e.cfg.noOverlay {
		upper, work := filepath.Join(s.dir, "upper"), filepath.Join(s.dir, "work")
		os.Mkdir(upper, 0o755)
		os.Mkdir(work, 0o700)
		if strings.ContainsAny(lower+upper+work, ",:") {
			s.log.Warn("overlay unavailable: a path holds ',' or ':'; copying the rootfs instead")
		} else {
			opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
			// volatile (Linux 5.10+): no syncs to the upper layer, which a
			// throw-away build root does not need; older kernels refuse the
			// option, so try without.
			err := unix.Mount("overlay", s.root, "overlay", unix.MS_NODEV, opts+",volatile")
			if err != nil {
				err = unix.Mount("overlay", s.root, "overlay", unix.MS_NODEV, opts)
			}
			if err == nil {
				s.overlay = true
				return nil
			}
			s.log.Warn("overlay mount failed; copying the rootfs instead (slower)", "err", err)
		}
	}
	if err := copyTree(lower, s.root); err != nil {
		return fmt.Errorf("copy rootfs: %w", err)
	}
	return nil
}
