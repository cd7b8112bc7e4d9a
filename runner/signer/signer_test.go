package signer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// The test binary doubles as signer processes: with APKFARM_SIGNER_TEST
// set it behaves as the mode says instead of running the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("APKFARM_SIGNER_TEST"); mode != "" {
		os.Exit(fakeSigner(mode))
	}
	os.Exit(m.Run())
}

func fakeSigner(mode string) int {
	keyPath := os.Getenv("APKFARM_SIGNER_KEY")
	br := bufio.NewReader(os.Stdin)
	switch mode {
	case "serve":
		k, err := LoadKeys([]string{keyPath}, "")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := Serve(os.Stdin, os.Stdout, k, ServeOptions{Log: os.Stderr}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "exit":
		fmt.Fprintln(os.Stderr, "signer: key not readable")
		return 3
	case "hang-hello":
		select {}
	case "garbage":
		br.ReadString('\n')
		fmt.Println("HTTP/1.1 200 OK")
		return 0
	case "hang-sign", "garbage-sign", "wrong-sig":
		k, _ := LoadKeys([]string{keyPath}, "")
		br.ReadString('\n')
		pk := k.PublicKeys()[0]
		fmt.Printf("%s %d 1\nkey %s %s\n", hello, Version, pk.Name, b64(apk.MarshalPublicKey(pk.Key)))
		line, _ := br.ReadString('\n')
		req, _ := parseRequest(strings.TrimSuffix(line, "\n"), DefaultMaxBytes)
		buf := make([]byte, req.size)
		br.Read(buf)
		switch mode {
		case "hang-sign":
			select {}
		case "garbage-sign":
			fmt.Println("ok 1\nsig RSA256 nonsense !!!")
		case "wrong-sig":
			fmt.Printf("ok 1\nsig RSA256 %s %s\n", pk.Name, b64(make([]byte, 256)))
		}
		time.Sleep(time.Hour)
	}
	return 2
}

var (
	testKeyOnce sync.Once
	testKeyPath string
	testKeyErr  error
)

// testKey writes one 2048-bit key pair for the whole test run.
func testKey(t testing.TB) string {
	t.Helper()
	testKeyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "apkfarm-signer-test-")
		if err != nil {
			testKeyErr = err
			return
		}
		k, err := apk.GenerateKey(2048)
		if err != nil {
			testKeyErr = err
			return
		}
		testKeyPath, _, testKeyErr = apk.WriteKeyPair(dir, "signer-test-1a2b3c4d", k)
	})
	if testKeyErr != nil {
		t.Fatal(testKeyErr)
	}
	return testKeyPath
}

func selfCommand(t *testing.T, mode string, opts CommandOptions) (*Command, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"/usr/bin/env", "APKFARM_SIGNER_TEST=" + mode, "APKFARM_SIGNER_KEY=" + testKey(t), exe}
	return StartCommand(context.Background(), argv, opts)
}

// testItems returns n control members of distinct packages and an index.
func testItems(t testing.TB, n int) []Item {
	t.Helper()
	var items []Item
	idx := &apk.Index{Description: "signer test"}
	for i := range n {
		name := fmt.Sprintf("pkg%d", i)
		b, err := apk.MarshalPackage(&apk.PackageSpec{
			Info:  apk.PkgInfo{Name: name, Version: "1.0-r0", Arch: "x86_64", Origin: name, License: "MIT", BuildDate: 1},
			Files: []apk.File{{Name: "usr/share/" + name, Data: []byte(name)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		u, err := apk.PrepareSigning(b, name+".apk")
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Kind: apk.KindPackage, Name: name + "-1.0-r0.apk", Signed: u.Signed})
		idx.Packages = append(idx.Packages, u.Package.IndexEntry())
	}
	ib, err := apk.MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	return append(items, Item{Kind: apk.KindIndex, Name: "APKINDEX.tar.gz", Signed: ib})
}

// TestBackendsAgree: both backends sign the same items with the same key
// and give the same, verifying signatures (PKCS#1 v1.5 is deterministic).
func TestBackendsAgree(t *testing.T) {
	items := testItems(t, 20)
	keys, err := LoadKeys([]string{testKey(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := selfCommand(t, "serve", CommandOptions{Procs: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Close()
	if got, want := cmd.PublicKeys()[0].Name, keys.PublicKeys()[0].Name; got != want || got != "signer-test-1a2b3c4d.rsa.pub" {
		t.Fatalf("command announces key %q, keys backend %q", got, want)
	}
	a, err := SignAll(context.Background(), keys, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignAll(context.Background(), cmd, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if len(a[i]) != 1 || len(b[i]) != 1 || !bytes.Equal(a[i][0].Value, b[i][0].Value) {
			t.Errorf("item %d: signatures differ between backends", i)
		}
	}
	cmd.mu.Lock()
	n := len(cmd.idle)
	cmd.mu.Unlock()
	if n < 1 || n > 3 {
		t.Errorf("%d idle signer processes, want 1 to 3 (Procs)", n)
	}
}

// TestCommandFailures: a signer command that fails, hangs or answers with
// garbage gives a clear error naming the command and the file, within the
// timeout, and leaves no process behind.
func TestCommandFailures(t *testing.T) {
	items := testItems(t, 1)
	opts := CommandOptions{Procs: 1, Timeout: 2 * time.Second}
	for _, tc := range []struct {
		mode, atStart, atSign string
	}{
		{mode: "exit", atStart: "key not readable"},
		{mode: "hang-hello", atStart: "no hello within 2s"},
		{mode: "garbage", atStart: `hello answered "HTTP/1.1 200 OK"`},
		{mode: "hang-sign", atSign: "did not answer within 2s"},
		{mode: "garbage-sign", atSign: "signature line"},
		{mode: "wrong-sig", atSign: "does not verify"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			start := time.Now()
			cmd, err := selfCommand(t, tc.mode, opts)
			if tc.atStart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.atStart) || !strings.Contains(err.Error(), "/usr/bin/env") {
					t.Fatalf("start: %v, want an error naming the command and %q", err, tc.atStart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cmd.Close()
			_, err = SignAll(context.Background(), cmd, items[:1], 1)
			if err == nil || !strings.Contains(err.Error(), tc.atSign) || !strings.Contains(err.Error(), items[0].Name) {
				t.Fatalf("sign: %v, want an error naming the file and %q", err, tc.atSign)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			cmd.mu.Lock()
			n := len(cmd.idle)
			cmd.mu.Unlock()
			if n != 0 {
				t.Errorf("%d broken processes kept for reuse", n)
			}
		})
	}
}

// TestServeRefusesAndLogs: the trusted side refuses what is not a control
// member or an unsigned index, and anything over its limit, and logs what
// it signed.
func TestServeRefusesAndLogs(t *testing.T) {
	keys, err := LoadKeys([]string{testKey(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	items := testItems(t, 1)
	pkg, err := apk.MarshalPackage(&apk.PackageSpec{Info: apk.PkgInfo{Name: "whole", Version: "1-r0", Arch: "x86_64", BuildDate: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	fmt.Fprintf(&in, "%s %d\n", hello, Version)
	req := func(kind, name string, b []byte) {
		fmt.Fprintf(&in, "sign %s %d %s\n", kind, len(b), name)
		in.Write(b)
	}
	req(apk.KindPackage, "pkg0-1.0-r0.apk", items[0].Signed)
	req(apk.KindPackage, "whole.apk", pkg)
	req(apk.KindIndex, "APKINDEX.tar.gz", items[1].Signed)
	req(apk.KindIndex, "big", make([]byte, 2000))
	var out, log bytes.Buffer
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	err = Serve(&in, &out, keys, ServeOptions{MaxBytes: 1500, Log: &log, Now: func() time.Time { return now }})
	if err == nil || !strings.Contains(err.Error(), "more than the 1500 allowed") {
		t.Errorf("Serve: %v, want the oversized request refused", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"apkfarm-signer 1 1", "key ", "ok 1", "sig RSA256 signer-test-1a2b3c4d.rsa.pub ", "error refused: not a control member", "ok 1", "sig ", "error request of 2000 bytes"}
	if len(lines) != len(want) {
		t.Fatalf("answers:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
	var entries []LogEntry
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var e LogEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 3 || entries[0].Name != "pkg0" || entries[0].Version != "1.0-r0" || entries[0].Origin != "pkg0" ||
		len(entries[0].SHA256) != 64 || !entries[0].Time.Equal(now) || entries[1].Refused == "" || entries[2].Packages != 1 {
		t.Errorf("log entries %+v", entries)
	}
}

func TestLoadKeysErrors(t *testing.T) {
	if _, err := LoadKeys(nil, ""); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := LoadKeys([]string{filepath.Join(t.TempDir(), "none.rsa")}, ""); err == nil {
		t.Error("missing key accepted")
	}
	if _, err := LoadKeys([]string{testKey(t), testKey(t)}, ""); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("same key twice: %v", err)
	}
	if _, err := StartCommand(context.Background(), nil, CommandOptions{}); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := StartCommand(context.Background(), []string{"/nonexistent/signer"}, CommandOptions{}); err == nil ||
		!errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing command: %v", err)
	}
}

// FuzzServe: whatever a client sends, Serve neither panics nor signs
// anything but a control member or an unsigned index.
func FuzzServe(f *testing.F) {
	items := testItems(f, 1)
	var seed bytes.Buffer
	fmt.Fprintf(&seed, "%s %d\nsign package %d x.apk\n", hello, Version, len(items[0].Signed))
	seed.Write(items[0].Signed)
	f.Add(seed.Bytes())
	f.Add([]byte("apkfarm-signer 1\nsign index 5 x\nhello"))
	f.Add([]byte("apkfarm-signer 1\nsign package -1 x\n"))
	keys, err := LoadKeys([]string{testKey(f)}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		Serve(bytes.NewReader(in), &out, keys, ServeOptions{MaxBytes: 1 << 20})
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "ok ") && !bytes.Contains(in, items[0].Signed) {
				// Only a real control member or index gets signed; the
				// seed's is the only one a mutation is likely to keep.
				t.Fatalf("signed something: %q", in)
			}
		}
	})
}

func b64(b []byte) string { return base64Std(b) }
