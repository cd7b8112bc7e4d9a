package main

import (
	"bytes"
	"testing"
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
