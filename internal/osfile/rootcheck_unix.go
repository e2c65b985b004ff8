//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package osfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// rootCheck tells what opening name to append would, by opening it through
// os.Root and closing it.
func rootCheck(root *os.Root, name string) error {
	fd, err := rootOpen(root, name, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}
