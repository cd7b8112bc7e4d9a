package fake_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/executortest"
	"github.com/apkfarm/apkfarm/runner/executor/fake"
)

func TestConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executor.Executor { return fake.New() }, executortest.Options{})
}

func TestScriptedHandlerAndRecords(t *testing.T) {
	e := fake.New(
		fake.WithHandler(func(ctx context.Context, root string, req executor.ExecRequest) (int, error) {
			if req.Argv[0] == "abuild" {
				dir := filepath.Join(root, "home/build/packages")
				os.MkdirAll(dir, 0o755)
				return 0, os.WriteFile(filepath.Join(dir, "hello-1.0-r0.apk"), []byte("apk"), 0o644)
			}
			return 1, nil
		}),
		fake.WithCheckError("riscv64", errors.New("no qemu")),
	)
	if _, err := e.Start(context.Background(), executor.Spec{ID: "r", Arch: "riscv64"}); err == nil {
		t.Errorf("Start for an arch with a Check error succeeded")
	}
	s, err := e.Start(context.Background(), executor.Spec{ID: "hello", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"abuild", "-r"}}); code != 0 || err != nil {
		t.Fatalf("abuild: %d %v", code, err)
	}
	if code, _ := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"other"}, Network: true}); code != 1 {
		t.Errorf("other = %d, want 1", code)
	}
	var buf bytes.Buffer
	if err := s.CopyOut(context.Background(), "/home/build/packages", &buf); err != nil || !bytes.Contains(buf.Bytes(), []byte("hello-1.0-r0.apk")) {
		t.Errorf("CopyOut: %v", err)
	}
	ex := e.Execs()
	if len(ex) != 2 || ex[0].SessionID != "hello" || ex[0].Req.Argv[0] != "abuild" || !ex[1].Req.Network {
		t.Errorf("Execs() = %+v", ex)
	}
	if sp := e.Specs(); len(sp) != 1 || sp[0].ID != "hello" {
		t.Errorf("Specs() = %+v", sp)
	}
}
