// Command site renders apkfarm's JSON state into a static status site.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "site: not implemented yet")
	os.Exit(2)
}
