package partd

import (
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// pwritevSupported says whether pwritevAll writes; elsewhere a Log copies
// a record's pieces through a buffer.
const pwritevSupported = true

// pwritevAll writes the concatenation of vec to f at off with pwritev(2),
// at most IOV_MAX pieces a call, without copying the pieces.
func pwritevAll(f *os.File, vec [][]byte, off int64) error {
	const iovMax = 1024
	fd := int(f.Fd())
	vec = slices.Clone(vec) // advanced in place below
	for len(vec) > 0 {
		n, err := unix.Pwritev(fd, vec[:min(len(vec), iovMax)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += int64(n)
		for n > 0 && len(vec) > 0 {
			if n >= len(vec[0]) {
				n -= len(vec[0])
				vec = vec[1:]
			} else {
				vec[0] = vec[0][n:]
				n = 0
			}
		}
		for len(vec) > 0 && len(vec[0]) == 0 {
			vec = vec[1:]
		}
	}
	return nil
}
