package main

import (
	"context"
	"fmt"
	"io"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run run: not implemented yet")
	return exitTrouble
}
