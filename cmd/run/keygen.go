package main

import (
	"context"
	"fmt"
	"io"
)

func cmdKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "run keygen: not implemented yet")
	return exitTrouble
}
