package main

import (
	"context"
	"fmt"
	"io"
)

func cmdIndex(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run index: not implemented yet")
	return exitTrouble
}
