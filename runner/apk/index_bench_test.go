package apk

import (
	"bytes"
	"io"
	"testing"
)

// The goal for a 20,000-record index is under 100 ms to write and to read,
// archive and gzip included:
//
//	go test -run '^$' -bench Index -benchmem ./runner/apk/

const benchRecords = 20000

func BenchmarkIndexArchiveWrite(b *testing.B) {
	idx := &Index{Description: "v3.21.0-bench", Packages: idxMany(benchRecords)}
	out, err := MarshalIndexArchive(idx)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteIndexArchive(io.Discard, idx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIndexArchiveRead(b *testing.B) {
	archive, err := MarshalIndexArchive(&Index{Description: "v3.21.0-bench", Packages: idxMany(benchRecords)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(archive)))
	b.ReportAllocs()
	for b.Loop() {
		idx, err := ReadIndexArchive(archive, "APKINDEX.tar.gz")
		if err != nil {
			b.Fatal(err)
		}
		if len(idx.Packages) != benchRecords {
			b.Fatalf("read %d records", len(idx.Packages))
		}
	}
}

func BenchmarkIndexParseText(b *testing.B) {
	text, err := MarshalIndex(idxMany(benchRecords))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIndex(bytes.NewReader(text), "APKINDEX"); err != nil {
			b.Fatal(err)
		}
	}
}
