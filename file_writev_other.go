//go:build dragonfly || freebsd || netbsd || windows

package partd

// writevAll writes the concatenation of vec to fd, one piece after another
// (golang.org/x/sys has no writev for this system), and returns how many
// bytes it wrote. The exclusive flock keeps other appenders out between
// the pieces.
func writevAll(fd keyFD, vec [][]byte) (int64, error) {
	var done int64
	for _, b := range vec {
		n, err := writeAll(fd, b)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
