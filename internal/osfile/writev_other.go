//go:build dragonfly || freebsd || netbsd || windows

package osfile

// writevAll writes the concatenation of vec to h, one piece after another
// (golang.org/x/sys has no writev for this system), and returns how many
// bytes it wrote. The File store's exclusive lock keeps other appenders out
// between the pieces.
func writevAll(h Handle, vec [][]byte) (int64, error) {
	var done int64
	for _, b := range vec {
		n, err := writeAll(h, b)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
