package mirror

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Check says whether t can be reached and written: it pushes an empty
// probe file to the mirror's root (made when missing, as a push would)
// and deletes it again, touching nothing else; for an ssh mirror the host
// key must be in its known_hosts. When t has a check_url, that must answer
// too. The error says why, without the mirror's name; nil means ready.
// Check takes at most t's timeout, or 30 s, whichever is less.
func Check(ctx context.Context, t Target, opts ...Option) error {
	o := newOptions(opts)
	ctx, cancel := context.WithTimeoutCause(ctx, min(t.Timeout, 30*time.Second), errTimeout)
	defer cancel()
	if err := t.preflight(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "apkfarm-mirror-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	probe := ".apkfarm-doctor-" + strconv.Itoa(os.Getpid())
	full, empty := filepath.Join(tmp, "full"), filepath.Join(tmp, "empty")
	for _, d := range []string{full, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(full, probe), nil, 0o644); err != nil {
		return err
	}
	common := t.transportArgs(min(t.Timeout, 30*time.Second))
	fail := func(what string, err error) error {
		if context.Cause(ctx) == errTimeout {
			return fmt.Errorf("%s: no answer within %s", what, min(t.Timeout, 30*time.Second))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, err := rsync(ctx, o.rsync, slices.Concat(common, []string{"-r", full + "/", t.dest("")}), nil); err != nil {
		return fail("write a probe file", err)
	}
	// Delete the probe and nothing else: only its name passes the filter.
	_, err = rsync(ctx, o.rsync, slices.Concat(common, []string{"-r", "--existing", "--ignore-existing", "--delete",
		"--include=/" + probe, "--exclude=*", empty + "/", t.dest("")}), nil)
	if err != nil {
		return fail("delete the probe file "+probe, err)
	}
	if t.CheckURL != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, t.CheckURL, nil)
		if err != nil {
			return fmt.Errorf("check_url: %w", err)
		}
		resp, err := o.client.Do(req)
		if err != nil {
			return fail("check_url "+t.CheckURL, unwrapURL(err))
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("check_url %s: %s", t.CheckURL, resp.Status)
		}
	}
	return nil
}
