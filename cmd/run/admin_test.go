package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
)

// adminRun runs `run ARGS...` in-process and returns exit code, stdout and
// stderr.
func adminRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// adminKeygen makes a 2048-bit key pair in dir and returns its paths.
func adminKeygen(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	code, out, errs := adminRun(t, "keygen", "--dir", dir, "--name", name, "--bits", "2048")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("keygen: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	return lines[0], lines[1]
}

// adminPackage writes an unsigned package and returns its path.
func adminPackage(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := apk.MarshalPackage(&apk.PackageSpec{
		Info: apk.PkgInfo{Name: name, Version: "1.0-r0", Description: "admin test", URL: "https://example.org",
			BuildDate: 1726000000, Packager: "Test", Arch: "x86_64", Origin: name, License: "MIT"},
		Files: []apk.File{{Name: "usr/share/" + name + "/hello.txt", Data: []byte("hello from " + name + "\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+"-1.0-r0.apk")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// adminKeysDir returns a directory holding only the given public keys.
func adminKeysDir(t *testing.T, pubs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range pubs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestKeygen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		packager string
		args     []string
		want     string // base name before -<8 hex>
	}{
		{"default name without PACKAGER", "", nil, "apkfarm"},
		{"e-mail from PACKAGER", "Jane Doe <jane@example.org>", nil, "jane@example.org"},
		{"PACKAGER without an e-mail", "Jane Doe", nil, "apkfarm"},
		{"--name wins", "Jane Doe <jane@example.org>", []string{"--name", "pmos-builder"}, "pmos-builder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PACKAGER", tc.packager)
			dir := filepath.Join(t.TempDir(), "new", "keys")
			code, out, errs := adminRun(t, append([]string{"keygen", "--dir", dir, "--bits", "2048"}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			re := regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Join(dir, tc.want)) + `-[0-9a-f]{8}\.rsa$`)
			if len(lines) != 2 || !re.MatchString(lines[0]) || lines[1] != lines[0]+".pub" {
				t.Fatalf("stdout %q, want the private key path matching %s, then the same plus .pub", out, re)
			}
			for path, mode := range map[string]os.FileMode{lines[0]: 0o600, lines[1]: 0o644} {
				st, err := os.Stat(path)
				if err != nil || st.Mode().Perm() != mode {
					t.Errorf("%s: %v, mode %v, want %v", path, err, st.Mode().Perm(), mode)
				}
			}
			s, err := apk.LoadSigner(lines[0])
			if err != nil {
				t.Fatal(err)
			}
			pub, err := apk.LoadPublicKey(lines[1])
			if err != nil || !pub.Equal(s.PublicKey()) {
				t.Fatalf("public key file does not match the private key: %v", err)
			}
			if s.KeyName() != filepath.Base(lines[1]) {
				t.Fatalf("signatures name %q, the public key file is %q", s.KeyName(), filepath.Base(lines[1]))
			}
		})
	}
}

func TestAdminUsageErrors(t *testing.T) {
	dir, keys, notes := t.TempDir(), t.TempDir(), t.TempDir()
	priv, _ := adminKeygen(t, keys, "k")
	notKey := filepath.Join(notes, "notes.txt")
	os.WriteFile(notKey, []byte("hello"), 0o644)
	pkg := adminPackage(t, dir, "hello")
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"keygen without --dir", []string{"keygen"}, "usage: run keygen"},
		{"keygen with an argument", []string{"keygen", "--dir", dir, "extra"}, "usage: run keygen"},
		{"keygen weak key", []string{"keygen", "--dir", dir, "--bits", "1024"}, "too weak"},
		{"keygen unknown flag", []string{"keygen", "--dir", dir, "--force"}, "flag provided but not defined"},
		{"sign without --key", []string{"sign", pkg}, "usage: run sign"},
		{"sign without packages", []string{"sign", "--key", priv}, "usage: run sign"},
		{"sign with a file that is not a key", []string{"sign", "--key", notKey, pkg}, `read key "` + notKey + `": not a PEM key file`},
		{"sign with a missing key", []string{"sign", "--key", filepath.Join(dir, "nope.rsa"), pkg}, "no such file"},
		{"sign with an unknown type", []string{"sign", "--key", priv, "--type", "DSA", pkg}, `signature type "DSA" unknown`},
		{"index without --out", []string{"index", "--key", priv, pkg}, "usage: run index"},
		{"index without packages", []string{"index", "--key", priv, "--out", filepath.Join(dir, "APKINDEX.tar.gz")}, "usage: run index"},
		{"verify without --keys-dir", []string{"verify", pkg}, "usage: run verify"},
		{"verify without files", []string{"verify", "--keys-dir", dir}, "usage: run verify"},
		{"verify with a missing keys dir", []string{"verify", "--keys-dir", filepath.Join(dir, "nope"), pkg}, "load keys"},
		{"verify with a private key in the keys dir", []string{"verify", "--keys-dir", keys, pkg}, "this is a PRIVATE key"},
		{"verify with a file that is not a key in the keys dir", []string{"verify", "--keys-dir", notes, pkg}, `read key "` + notKey + `": not a PEM key file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := adminRun(t, tc.args...)
			if code != exitTrouble || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want %d with %q in stderr\nstdout: %s\nstderr: %s", code, exitTrouble, tc.want, out, errs)
			}
		})
	}
	if code, _, errs := adminRun(t, "sign", "-h"); code != exitOK || !strings.Contains(errs, "usage: run sign") {
		t.Fatalf("sign -h: exit %d, stderr %q", code, errs)
	}
}

// TestSignIndexVerify: keygen, sign, index and verify work together, and
// re-signing replaces the signature.
func TestSignIndexVerify(t *testing.T) {
	keys, repo := t.TempDir(), filepath.Join(t.TempDir(), "x86_64")
	os.MkdirAll(repo, 0o755)
	priv, pub := adminKeygen(t, keys, "first")
	priv2, pub2 := adminKeygen(t, keys, "second")
	pkgs := []string{adminPackage(t, repo, "hello"), adminPackage(t, repo, "other")}
	os.Chmod(pkgs[1], 0o640)

	if code, out, errs := adminRun(t, append([]string{"sign", "--key", priv}, pkgs...)...); code != exitOK || out != "" || errs != "" {
		t.Fatalf("sign: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if st, _ := os.Stat(pkgs[1]); st.Mode().Perm() != 0o640 {
		t.Errorf("signing changed the mode to %v", st.Mode().Perm())
	}
	index := filepath.Join(repo, "APKINDEX.tar.gz")
	code, out, errs := adminRun(t, append([]string{"index", "--key", priv, "--out", index,
		"--description", "v1 test repo", "--rewrite-arch", "aarch64"}, pkgs...)...)
	if code != exitOK {
		t.Fatalf("index: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	first := adminKeysDir(t, pub)
	files := append([]string{index}, pkgs...)
	if code, out, errs := adminRun(t, append([]string{"verify", "--keys-dir", first}, files...)...); code != exitOK || out != "" {
		t.Fatalf("verify: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := apk.ReadIndexArchive(b, index)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Description != "v1 test repo" || len(idx.Packages) != 2 {
		t.Fatalf("index: description %q, %d packages", idx.Description, len(idx.Packages))
	}
	for _, p := range idx.Packages {
		if p.Arch != "aarch64" {
			t.Errorf("%s: arch %q, want the rewritten aarch64", p.Name, p.Arch)
		}
	}

	// Re-signing with the second key, through a symlink, replaces the
	// first signature in the file and leaves the link a link.
	link := filepath.Join(t.TempDir(), "link.apk")
	if err := os.Symlink(pkgs[0], link); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := adminRun(t, "sign", "--key", priv2, link); code != exitOK {
		t.Fatalf("re-sign: exit %d: %s", code, errs)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("signing through a symlink replaced the link: %v", err)
	}
	if code, _, _ := adminRun(t, "verify", "--keys-dir", adminKeysDir(t, pub2), pkgs[0]); code != exitOK {
		t.Fatal("re-signed package does not verify with the new key")
	}
	code, out, _ = adminRun(t, "verify", "--keys-dir", first, pkgs[0])
	if code != exitFailed || !strings.Contains(out, "signed by unknown key") {
		t.Fatalf("re-signed package against the old key: exit %d, %q", code, out)
	}
}

// TestVerifyReportsEachBadFile: one line per bad file, in order, saying
// which check failed; good files print nothing.
func TestVerifyReportsEachBadFile(t *testing.T) {
	keys, dir := t.TempDir(), t.TempDir()
	priv, pub := adminKeygen(t, keys, "trusted")
	otherPriv, _ := adminKeygen(t, keys, "stranger")
	good := adminPackage(t, dir, "good")
	unsigned := adminPackage(t, dir, "unsigned")
	tampered := adminPackage(t, dir, "tampered")
	foreign := adminPackage(t, dir, "foreign")
	if code, _, errs := adminRun(t, "sign", "--key", priv, good, tampered); code != exitOK {
		t.Fatal(errs)
	}
	if code, _, errs := adminRun(t, "sign", "--key", otherPriv, foreign); code != exitOK {
		t.Fatal(errs)
	}
	// Change the data member's gzip header time: still a valid member,
	// different bytes.
	b, _ := os.ReadFile(tampered)
	pf, err := apk.ReadPackageFile(b, tampered)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-len(pf.Data)+4] ^= 1
	os.WriteFile(tampered, b, 0o644)
	text := filepath.Join(dir, "README")
	os.WriteFile(text, []byte("not a package\n"), 0o644)
	missing := filepath.Join(dir, "missing.apk")

	keysDir := adminKeysDir(t, pub)
	code, out, errs := adminRun(t, "verify", "--keys-dir", keysDir, good, unsigned, tampered, foreign, text, missing, good)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\nstderr: %s", code, exitFailed, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []struct{ file, check string }{
		{unsigned, ": no signature"},
		{tampered, ": data hash mismatch"},
		{foreign, `: signed by unknown key "stranger-`},
		{text, ": gzip member 1 at offset 0"},
		{missing, ": open " + missing + ": no such file or directory"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w.file+w.check) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w.file+w.check)
		}
	}
	if !strings.Contains(lines[2], "(not in "+keysDir+")") {
		t.Errorf("unknown key line does not say where the keys were looked for: %q", lines[2])
	}
}

// TestSignFailureLeavesOriginal: a file that cannot be signed stays as it
// was, the others are signed, and no temporary file is left behind.
func TestSignFailureLeavesOriginal(t *testing.T) {
	keys, dir := t.TempDir(), t.TempDir()
	priv, pub := adminKeygen(t, keys, "k")
	good := adminPackage(t, dir, "good")
	bad := filepath.Join(dir, "bad.apk")
	junk := []byte("this is not a package")
	os.WriteFile(bad, junk, 0o644)
	code, _, errs := adminRun(t, "sign", "--key", priv, bad, good)
	if code != exitFailed || !strings.Contains(errs, "sign package: ") || !strings.Contains(errs, `"`+bad+`"`) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, want %d and one line naming %s\nstderr: %s", code, exitFailed, bad, errs)
	}
	if b, _ := os.ReadFile(bad); !bytes.Equal(b, junk) {
		t.Fatal("the file that failed was changed")
	}
	if code, out, _ := adminRun(t, "verify", "--keys-dir", adminKeysDir(t, pub), good); code != exitOK {
		t.Fatalf("the good package was not signed: %s", out)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("directory holds %d files, want 2 (no temporary files left)", len(ents))
	}
}

func TestIndexRefusesBadPackage(t *testing.T) {
	keys, dir := t.TempDir(), t.TempDir()
	priv, _ := adminKeygen(t, keys, "k")
	good := adminPackage(t, dir, "good")
	bad := filepath.Join(dir, "bad.apk")
	os.WriteFile(bad, []byte("junk"), 0o644)
	out := filepath.Join(dir, "APKINDEX.tar.gz")
	code, _, errs := adminRun(t, "index", "--key", priv, "--out", out, good, bad)
	if code != exitFailed || !strings.Contains(errs, `read package "`+bad+`"`) || !strings.Contains(errs, "not written") {
		t.Fatalf("exit %d\nstderr: %s", code, errs)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("index written despite a bad package: %v", err)
	}
}

// TestAdminConformance: what keygen, sign and index write through the CLI
// the real apk accepts: apk verify passes the packages and the index, and
// apk add installs from the repository with the keygen public key.
func TestAdminConformance(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	root := t.TempDir()
	keys, repo := filepath.Join(root, "keys"), filepath.Join(root, "repo", "x86_64")
	os.MkdirAll(repo, 0o755)
	priv, _ := adminKeygen(t, keys, "farm")
	os.Rename(priv, filepath.Join(root, filepath.Base(priv))) // only the public key stays in keys/
	priv = filepath.Join(root, filepath.Base(priv))
	pkg := adminPackage(t, repo, "hello")
	index := filepath.Join(repo, "APKINDEX.tar.gz")
	for _, args := range [][]string{
		{"sign", "--key", priv, pkg},
		{"index", "--key", priv, "--out", index, pkg},
	} {
		if code, _, errs := adminRun(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	mounts := []alpinetest.Mount{{Host: root, Guest: "/tmp/w", Writable: true}}
	res := alpinetest.Apk(t, "x86_64", mounts, "verify", "--keys-dir", "/tmp/w/keys",
		"/tmp/w/repo/x86_64/hello-1.0-r0.apk", "/tmp/w/repo/x86_64/APKINDEX.tar.gz")
	if res.ExitCode != 0 || strings.Count(res.Stdout, ": 0 - OK") != 2 {
		t.Fatalf("apk verify: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	res = alpinetest.Apk(t, "x86_64", mounts, "add", "--root", "/tmp/w/r", "--initdb", "--keys-dir", "/tmp/w/keys",
		"-X", "/tmp/w/repo", "hello")
	if res.ExitCode != 0 {
		t.Fatalf("apk add: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(root, "r/usr/share/hello/hello.txt")); err != nil || string(b) != "hello from hello\n" {
		t.Fatalf("installed file: %q, %v", b, err)
	}
}
