package main

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestTerminalText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "hello 1.0-r0\n\tok", "hello 1.0-r0\n\tok"},
		{"escape sequence", "pkg \x1b[2J\x1b]0;pwned\x07", `pkg \x1b[2J\x1b]0;pwned\x07`},
		{"carriage return hides a line", "good\rbad", `good\x0dbad`},
		{"DEL and C1", "a\x7fb\u0085c", `a\x7fb\u0085c`},
		{"direction override", "file\u202egnp.exe", `file\u202egnp.exe`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"non-ASCII passes", "Grüße, 世界", "Grüße, 世界"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := terminalText(&b)
			// Written a byte at a time: a character split over writes is
			// still one character.
			for i := range len(tc.in) {
				if n, err := w.Write([]byte{tc.in[i]}); n != 1 || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// FuzzTerminalText: whatever is written, in whatever pieces, what reaches
// the terminal is valid UTF-8 without a control character but newline
// and tab, and text without any is passed as it is.
func FuzzTerminalText(f *testing.F) {
	f.Add([]byte("pkg \x1b[2J\r\n\tok \u202e\xff"), uint8(3))
	f.Add([]byte("Grüße"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var b bytes.Buffer
		w := terminalText(&b)
		n := int(step%16) + 1
		for i := 0; i < len(in); i += n {
			w.Write(in[i:min(i+n, len(in))])
		}
		out := b.Bytes()
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 out: %q", out)
		}
		for _, r := range string(out) {
			if needsEscape(r, utf8.RuneLen(r)) {
				t.Fatalf("%q reached the terminal in %q", r, out)
			}
		}
		if clean := escapeControls(in); bytes.Equal(clean, in) && utf8.Valid(in) && !bytes.Equal(out, in) {
			t.Fatalf("clean text changed: %q -> %q", in, out)
		}
	})
}
