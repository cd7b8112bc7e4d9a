package apk

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestSplitMembers(t *testing.T) {
	a, b, c := gz(t, "one"), gz(t, strings.Repeat("two", 1000)), gz(t, "")
	all := append(append(append([]byte{}, a...), b...), c...)
	got, err := splitMembers(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], c) {
		t.Fatalf("split into %d members, boundaries wrong", len(got))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"truncated", all[:len(a)+len(b)/2], "member 2 at offset"},
		{"garbage", append(append([]byte{}, a...), 'x', 'y'), "member 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := splitMembers(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
