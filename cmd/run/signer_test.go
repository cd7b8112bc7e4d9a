package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

var (
	runBinOnce sync.Once
	runBin     string
	runBinErr  error
)

// runBinary builds this command once per test binary: tests that need
// `run` as a process of its own (the signer) start it.
func runBinary(t *testing.T) string {
	t.Helper()
	alpinetest.RequireCommand(t, "go", "the Go toolchain")
	runBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "apkfarm-run-bin-")
		if err != nil {
			runBinErr = err
			return
		}
		runBin = filepath.Join(dir, "run")
		out, err := exec.Command("go", "build", "-o", runBin, ".").CombinedOutput()
		if err != nil {
			runBinErr = &buildError{err, string(out)}
		}
	})
	if runBinErr != nil {
		t.Fatal(runBinErr)
	}
	return runBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// TestSignerCommand: `run signer` as a process of its own, driven by the
// command backend, signs packages that verify, refuses what is not a
// control member, and logs what it signed.
func TestSignerCommand(t *testing.T) {
	bin := runBinary(t)
	dir := t.TempDir()
	k, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := apk.WriteKeyPair(dir, "farm-12345678", k)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "signer.log")
	c, err := signer.StartCommand(context.Background(), []string{bin, "signer", "--key", priv, "--log", logPath}, signer.CommandOptions{Procs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := apk.MarshalPackage(&apk.PackageSpec{Info: apk.PkgInfo{Name: "hello", Version: "1-r0", Arch: "x86_64", Origin: "hello", BuildDate: 1},
		Files: []apk.File{{Name: "usr/share/hello", Data: []byte("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := apk.PrepareSigning(b, "hello-1-r0.apk")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := c.Sign(context.Background(), apk.KindPackage, "hello-1-r0.apk", u.Signed)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := apk.Attach(u.Body, sigs...)
	if err != nil {
		t.Fatal(err)
	}
	kr := apk.NewKeyring("test")
	kr.Add("farm-12345678.rsa.pub", &k.PublicKey)
	if err := kr.VerifyPackage(signed, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(context.Background(), apk.KindPackage, "whole.apk", b); err == nil || !strings.Contains(err.Error(), "not a control member") {
		t.Errorf("a whole package signed: %v", err)
	}
	c.Close()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []signer.LogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e signer.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 2 || entries[0].Name != "hello" || entries[0].Version != "1-r0" || entries[1].Refused == "" {
		t.Errorf("signer log %+v", entries)
	}
}
