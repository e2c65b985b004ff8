//go:build darwin || linux || openbsd

package osfile

import (
	"slices"

	"golang.org/x/sys/unix"
)

// writevAll writes the concatenation of vec to h, in writev calls of at
// most IOV_MAX pieces, and returns how many bytes it wrote.
func writevAll(h Handle, vec [][]byte) (int64, error) {
	const iovMax = 1024
	var done int64
	vec = slices.Clone(vec) // advanced in place below
	for len(vec) > 0 {
		n, err := unix.Writev(h, vec[:min(len(vec), iovMax)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += int64(n)
		vec = AdvanceVec(vec, n)
	}
	return done, nil
}
