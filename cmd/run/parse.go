package main

import (
	"context"
	"fmt"
	"io"
)

func cmdParse(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run parse: not implemented yet")
	return exitTrouble
}
