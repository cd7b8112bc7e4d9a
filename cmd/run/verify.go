package main

import (
	"context"
	"fmt"
	"io"
)

func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run verify: not implemented yet")
	return exitTrouble
}
