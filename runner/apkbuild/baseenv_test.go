package apkbuild

import (
	"reflect"
	"slices"
	"testing"

	"mvdan.cc/sh/v3/expand"
)

// TestBaseEnv shows that baseEnv answers as expand.ListEnviron does for
// the environment of every arch.
func TestBaseEnv(t *testing.T) {
	for arch := range hostspecs {
		pairs := Environ(arch, StartDir("main/foo"))
		want, got := expand.ListEnviron(pairs...), newBaseEnv(slices.Clone(pairs))
		names := []string{"", "X", "HOME root", "CARCH_", "CBUILD", "CBUILD_ARCH", "srcdir", "zzz"}
		want.Each(func(name string, _ expand.Variable) bool {
			names = append(names, name)
			return true
		})
		for _, n := range names {
			if w, g := want.Get(n), got.Get(n); !reflect.DeepEqual(w, g) {
				t.Errorf("%s: Get(%q) = %+v, want %+v", arch, n, g, w)
			}
		}
		var we, ge []string
		want.Each(func(name string, vr expand.Variable) bool { we = append(we, name+"="+vr.Str); return true })
		got.Each(func(name string, vr expand.Variable) bool { ge = append(ge, name+"="+vr.Str); return true })
		if !slices.Equal(we, ge) {
			t.Errorf("%s: Each gives %q, want %q", arch, ge, we)
		}
	}
}
