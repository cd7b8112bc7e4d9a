// Command clonens tries to start a child in each kind of new namespace
// with clone(2) and prints, per kind, "ok" or the error: the oci tests run
// it inside a build to show the syscall filter refuses them all.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	self, _ := os.Executable()
	if len(os.Args) > 1 && os.Args[1] == "child" {
		return
	}
	for _, ns := range []struct {
		name string
		flag uintptr
	}{
		{"user", syscall.CLONE_NEWUSER}, {"net", syscall.CLONE_NEWNET}, {"mnt", syscall.CLONE_NEWNS},
		{"pid", syscall.CLONE_NEWPID}, {"uts", syscall.CLONE_NEWUTS}, {"ipc", syscall.CLONE_NEWIPC},
	} {
		cmd := exec.Command(self, "child")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: ns.flag}
		if err := cmd.Run(); err != nil {
			fmt.Printf("%s: %v\n", ns.name, err)
		} else {
			fmt.Printf("%s: ok\n", ns.name)
		}
	}
	// A plain child still works.
	if err := exec.Command(self, "child").Run(); err != nil {
		fmt.Printf("plain: %v\n", err)
	} else {
		fmt.Println("plain: ok")
	}
}
