package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Push is what a run needs of a GitLab webhook event: which branch moved,
// to which commit, by whom. Strings come from the network: Detail cleans
// them before they reach a log or a run record.
type Push struct {
	// Kind is the event's object_kind: "push" for a push to a branch;
	// "tag_push", "merge_request" and others are not pushes.
	Kind string
	// Ref is the pushed ref, "refs/heads/master"; Branch is "master" for
	// it, and empty for a ref that is not a branch.
	Ref    string
	Branch string
	// SHA is checkout_sha: the commit the branch now points at; empty when
	// the push deleted the branch.
	SHA string
	// User is the pusher's user name (user_username).
	User string
	// Commits is total_commits_count, else the length of commits.
	Commits int
	// Project is project.path_with_namespace, "postmarketOS/pmaports".
	Project string
}

// pushEvent is the part of GitLab's push event that Push keeps.
type pushEvent struct {
	ObjectKind        *string           `json:"object_kind"`
	Ref               *string           `json:"ref"`
	CheckoutSHA       *string           `json:"checkout_sha"`
	UserUsername      string            `json:"user_username"`
	TotalCommitsCount *int              `json:"total_commits_count"`
	Commits           []json.RawMessage `json:"commits"`
	Project           struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

// ParsePush reads a GitLab webhook body. An event of another kind is not
// an error (Push.Kind says what it is); a body that is not a JSON object,
// has no object_kind, or is a push without a ref is.
func ParsePush(body []byte) (Push, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Push{}, errors.New("parse push event: empty body")
	}
	if body[0] != '{' {
		return Push{}, errors.New("parse push event: not a JSON object")
	}
	var ev pushEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return Push{}, fmt.Errorf("parse push event: %w", err)
	}
	if ev.ObjectKind == nil || *ev.ObjectKind == "" {
		return Push{}, errors.New("parse push event: no object_kind: not a GitLab webhook event")
	}
	p := Push{Kind: *ev.ObjectKind, User: ev.UserUsername, Project: ev.Project.PathWithNamespace}
	if ev.Ref != nil {
		p.Ref = *ev.Ref
	}
	if p.Kind != "push" {
		return p, nil
	}
	if p.Ref == "" {
		return Push{}, errors.New("parse push event: a push without a ref")
	}
	p.Branch, _ = strings.CutPrefix(p.Ref, "refs/heads/")
	if p.Branch == p.Ref {
		p.Branch = ""
	}
	if ev.CheckoutSHA != nil {
		p.SHA = *ev.CheckoutSHA
	}
	switch {
	case ev.TotalCommitsCount != nil && *ev.TotalCommitsCount >= 0:
		p.Commits = *ev.TotalCommitsCount
	default:
		p.Commits = len(ev.Commits)
	}
	return p, nil
}

// Detail describes the push in words for a log line and a run record:
// "push to master by alice (1a2b3c4d5e6f, 3 commits)". Every field is
// cleaned of control characters and shortened.
func (p Push) Detail() string {
	var b strings.Builder
	b.WriteString("push to ")
	b.WriteString(clean(p.Branch, 64))
	if p.User != "" {
		b.WriteString(" by ")
		b.WriteString(clean(p.User, 64))
	}
	var in []string
	if sha := shortSHA(p.SHA); sha != "" {
		in = append(in, sha)
	}
	switch p.Commits {
	case 0:
	case 1:
		in = append(in, "1 commit")
	default:
		in = append(in, fmt.Sprintf("%d commits", p.Commits))
	}
	if len(in) > 0 {
		b.WriteString(" (" + strings.Join(in, ", ") + ")")
	}
	return b.String()
}

// clean keeps at most max printable runes of s, without control or format
// characters (no terminal escapes, no line breaks, no bidi overrides), and
// marks a cut with "…".
func clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			continue
		}
		if n == max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// shortSHA is a commit id cut to 12 hex digits; anything else is cleaned.
func shortSHA(s string) string {
	if len(s) > 12 && strings.Trim(s, "0123456789abcdefABCDEF") == "" {
		return s[:12]
	}
	return clean(s, 64)
}
