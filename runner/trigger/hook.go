package trigger

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
)

// TokenHeader carries the shared secret of every hook request; GitLab
// sends the webhook's "Secret token" in it.
const TokenHeader = "X-Gitlab-Token"

// maxTokenBytes caps the token file.
const maxTokenBytes = 4096

// maxOnly caps the names of one POST /hook/run.
const maxOnly = 256

// pkgnameRe is the characters of an apk package name.
var pkgnameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ReadToken reads a hook token file: a regular file, not readable or
// writable by other users, holding a non-empty secret (surrounding white
// space is ignored).
func ReadToken(path string) ([]byte, error) {
	const remedy = "write a random secret to it, e.g. `head -c 32 /dev/urandom | base64 > %[1]s && chmod 600 %[1]s`, and give GitLab the same secret"
	if path == "" {
		return nil, errors.New("read hook token: no token file: set trigger.token_file")
	}
	f, err := safefile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read hook token: %s does not exist: "+remedy, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read hook token: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read hook token: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o006 != 0 {
		return nil, fmt.Errorf("read hook token: %s is open to every user (mode %04o): chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read hook token: %s: %w", path, err)
	}
	if len(b) > maxTokenBytes {
		return nil, fmt.Errorf("read hook token: %s: more than %d bytes: is it the right file?", path, maxTokenBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("read hook token: %s is empty: "+remedy, path)
	}
	return b, nil
}

// listen reads the token and binds the listener.
func (s *Server) listen() error {
	if s.opts.MaxBody <= 0 {
		return fmt.Errorf("max_body %d: must be positive", s.opts.MaxBody)
	}
	tok, err := ReadToken(s.opts.TokenFile)
	if err != nil {
		return err
	}
	s.token = sha256.Sum256(tok)
	s.branches = map[string]bool{}
	for _, b := range s.opts.Branches {
		s.branches[b] = true
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", s.opts.Listen, err)
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// Handler serves the hooks and /healthz (Serve serves it on the listener).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook/gitlab", s.hookGitLab)
	mux.HandleFunc("POST /hook/run", s.hookRun)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// reply is the body of every hook answer.
type reply struct {
	// Status is queued, coalesced, ignored or stopping; Error is set
	// instead on a refusal.
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"marshal reply"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// refuse answers an error and logs it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.log.Warn("hook: refused", "path", r.URL.Path, "remote", r.RemoteAddr, "code", code, "why", msg)
	writeJSON(w, code, reply{Error: msg})
}

// authorized checks the token header in constant time (of the token's
// length too: both sides are hashed first); it answers 401 without the
// header and 403 with a wrong one.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	got, ok := r.Header[http.CanonicalHeaderKey(TokenHeader)]
	if !ok || len(got) == 0 {
		s.refuse(w, r, http.StatusUnauthorized, "missing "+TokenHeader+" header")
		return false
	}
	sum := sha256.Sum256([]byte(got[0]))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		s.refuse(w, r, http.StatusForbidden, "wrong token")
		return false
	}
	return true
}

// readBody reads at most MaxBody bytes, answering 413 above.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooLarge := fmt.Sprintf("body larger than %d bytes (trigger.max_body)", s.opts.MaxBody)
	if r.ContentLength > s.opts.MaxBody {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	case err != nil:
		s.refuse(w, r, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	}
	return b, true
}

// queued answers what submit did.
func (s *Server) queued(w http.ResponseWriter, r *http.Request, req Request) {
	status := s.submit(req)
	code := http.StatusAccepted
	if status == statusStopping {
		code = http.StatusServiceUnavailable
	}
	s.log.Info("hook: "+status, "path", r.URL.Path, "remote", r.RemoteAddr, "trigger", req.Kind, "detail", req.Detail, "only", req.Only)
	writeJSON(w, code, reply{Status: status})
}

// hookGitLab takes a GitLab push event. Pushes to a branch not in
// Branches, tag pushes, branch deletions and other events are answered 200
// with status "ignored" and the reason, so that GitLab's "Recent events"
// shows why nothing ran (204 could not say it).
func (s *Server) hookGitLab(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	push, err := ParsePush(body)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if why := s.ignore(push); why != "" {
		s.log.Info("hook: ignored", "path", r.URL.Path, "remote", r.RemoteAddr, "why", why)
		writeJSON(w, http.StatusOK, reply{Status: "ignored", Reason: why})
		return
	}
	s.queued(w, r, Request{Kind: state.TriggerGitLab, Detail: push.Detail()})
}

// ignore says why a parsed event starts no run, "" when it does.
func (s *Server) ignore(p Push) string {
	switch {
	case p.Kind != "push":
		return fmt.Sprintf("a %q event, not a push", clean(p.Kind, 64))
	case p.Branch == "":
		return fmt.Sprintf("a push to %q, not to a branch", clean(p.Ref, 128))
	case !s.branches[p.Branch]:
		return fmt.Sprintf("a push to branch %q, not one of trigger.branches %q", clean(p.Branch, 128), s.opts.Branches)
	case p.SHA == "" || strings.Trim(p.SHA, "0") == "":
		return fmt.Sprintf("branch %q was deleted", p.Branch)
	}
	return ""
}

// hookRun takes POST /hook/run?only=a,b (only may repeat; without it the
// whole tree).
func (s *Server) hookRun(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if _, ok := s.readBody(w, r); !ok {
		return
	}
	only, err := parseOnly(r.URL.Query()["only"])
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	detail := "POST /hook/run"
	if len(only) > 0 {
		detail += "?only=" + strings.Join(only, ",")
	}
	s.queued(w, r, Request{Kind: state.TriggerHook, Detail: detail, Only: only})
}

// parseOnly splits and checks the only= values: pkgname characters, no
// duplicates, at most maxOnly names.
func parseOnly(values []string) ([]string, error) {
	var only []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if !pkgnameRe.MatchString(name) {
				return nil, fmt.Errorf("only: %q is not a package name (letters, digits and . _ + - only)", clean(name, 64))
			}
			if !slices.Contains(only, name) {
				only = append(only, name)
			}
			if len(only) > maxOnly {
				return nil, fmt.Errorf("only: more than %d names: run the whole tree instead (no only=)", maxOnly)
			}
		}
	}
	return only, nil
}
