package main

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// terminalText wraps w so that control characters in what is written
// (from APKBUILDs, indexes, build output: an escape sequence could
// rewrite the terminal or hide a line) are shown escaped, "\x1b",
// "\u202e", instead of acting. Newlines and tabs pass. For text only:
// JSON output escapes what it must itself.
func terminalText(w io.Writer) io.Writer {
	if t, ok := w.(*textWriter); ok {
		return t
	}
	return &textWriter{w: w}
}

type textWriter struct {
	w     io.Writer
	carry []byte // an incomplete UTF-8 sequence at the end of a write
}

func (t *textWriter) Write(p []byte) (int, error) {
	b := append(t.carry, p...)
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	t.carry = append([]byte(nil), b[cut:]...)
	if _, err := t.w.Write(escapeControls(b[:cut])); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeControls returns b with control characters, Unicode direction
// controls and invalid UTF-8 bytes escaped.
func escapeControls(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if needsEscape(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = fmt.Appendf(out, `\x%02x`, b[i])
		case needsEscape(r, n) && r < utf8.RuneSelf:
			out = fmt.Appendf(out, `\x%02x`, r)
		case needsEscape(r, n):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

func needsEscape(r rune, size int) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r == utf8.RuneError && size == 1:
		return true
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // direction controls: text that reads otherwise than it is
	}
	return false
}
