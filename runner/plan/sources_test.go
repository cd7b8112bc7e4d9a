package plan

import (
	"slices"
	"testing"
)

func TestRemoteSources(t *testing.T) {
	got := remoteSources([]string{"hello-2.12.tar.gz::https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz",
		"https://example.org/dl/x-1.0.tar.xz", "0001-fix.patch", "ftp://ftp.example.org/y.tgz", "local/file.initd"})
	if want := []string{"hello-2.12.tar.gz", "x-1.0.tar.xz", "y.tgz"}; !slices.Equal(got, want) {
		t.Errorf("remoteSources = %q; want %q", got, want)
	}
}
