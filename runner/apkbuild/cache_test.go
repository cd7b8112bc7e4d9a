package apkbuild

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fillAll sets every field of the struct v points to (strings, string
// lists, bools, and Subpackage lists) to a distinct non-zero value.
func fillAll(t *testing.T, v reflect.Value, seed *int) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		*seed++
		switch f.Kind() {
		case reflect.String:
			f.SetString("s" + string(rune('a'+*seed%26)) + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			switch f.Type().Elem().Kind() {
			case reflect.String:
				f.Set(reflect.ValueOf([]string{v.Type().Field(i).Name, "x"}))
			case reflect.Struct:
				s := reflect.MakeSlice(f.Type(), 2, 2)
				fillAll(t, s.Index(0), seed)
				fillAll(t, s.Index(1), seed)
				f.Set(s)
			default:
				t.Fatalf("field %s: slice of %v not covered by this test", v.Type().Field(i).Name, f.Type().Elem())
			}
		default:
			t.Fatalf("field %s: kind %v not covered by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
}

// TestAportEncodingCoversFields round-trips an Aport with every field set:
// a field added to Aport or Subpackage and forgotten in encodeAport fails.
func TestAportEncodingCoversFields(t *testing.T) {
	var a Aport
	seed := 0
	fillAll(t, reflect.ValueOf(&a).Elem(), &seed)
	got, err := decodeAport(encodeAport(&a))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &a) {
		t.Errorf("round trip differs:\ngot  %+v\nwant %+v", got, &a)
	}
	// Nil and empty lists of a subpackage's arch keep their meaning.
	a.Subpackages[0].Arches = nil
	got, _ = decodeAport(encodeAport(&a))
	if got.Subpackages[0].Arches != nil {
		t.Errorf("nil Arches came back as %q", got.Subpackages[0].Arches)
	}
	if _, err := decodeAport(encodeAport(&a)[:10]); err == nil {
		t.Error("truncated encoding decoded without error")
	}
}

// TestScanCacheStamps: a touched APKBUILD with the same content is not
// evaluated again, and a corrupt index is ignored and rewritten.
func TestScanCacheStamps(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(fixtureRoot)); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ctx := context.Background()
	opts := ScanOptions{Arches: []string{"x86_64"}, CacheDir: cache}
	if _, err := Scan(ctx, root, opts); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "main", "libfoo", "APKBUILD"), later, later); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Evaluated != 0 {
		t.Errorf("touched file: evaluated %d, want 0", res.Evaluated)
	}
	idx, _ := filepath.Glob(filepath.Join(cache, "index-*.bin"))
	if len(idx) != 1 {
		t.Fatalf("index files %q, want one", idx)
	}
	if err := os.WriteFile(idx[0], []byte("apkfarm-apkbuild-cache\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Scan(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Evaluated != 8 {
		t.Errorf("corrupt index: evaluated %d, want 8", res.Evaluated)
	}
	res, err = Scan(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached != 8 {
		t.Errorf("after rewrite: cached %d, want 8", res.Cached)
	}
}
