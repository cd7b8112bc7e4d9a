package main

import (
	"context"
	"fmt"
	"io"
)

func cmdSign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run sign: not implemented yet")
	return exitTrouble
}
