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
// without copying the pieces: at most IOV_MAX pieces and about maxCall
// bytes a call. (One call of tens of megabytes was several times slower
// here than the same bytes in calls of a megabyte: the kernel throttles a
// writer by the pages one call dirties.)
func pwritevAll(f *os.File, vec [][]byte, off int64) error {
	const iovMax, maxCall = 1024, 1 << 20
	fd := int(f.Fd())
	vec = slices.Clone(vec) // advanced in place below
	var call [][]byte
	for len(vec) > 0 {
		call = call[:0]
		size := 0
		for _, p := range vec[:min(len(vec), iovMax)] {
			if size >= maxCall {
				break
			}
			if size+len(p) > maxCall {
				p = p[:maxCall-size]
			}
			call = append(call, p)
			size += len(p)
		}
		n, err := unix.Pwritev(fd, call, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += int64(n)
		vec = advanceVec(vec, n)
	}
	return nil
}
