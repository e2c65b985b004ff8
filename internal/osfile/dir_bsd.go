//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package osfile

import "io/fs"

// dirSys is empty on macOS and the BSDs: they have no openat2(2), so files
// are opened through the directory's os.Root, which resolves each path
// element beneath it (no "..", no absolute path and no symlink leads out).
type dirSys struct{}

func (*dirSys) open(string) {}

func (*dirSys) close() {}

// Open opens the file name beneath the directory. Nothing outside the
// directory is opened.
func (d *Dir) Open(name string, flags int, mode fs.FileMode) (Handle, error) {
	return rootOpen(d.root, name, flags, mode)
}

// Check tells what opening name to append would: nil for a regular file,
// an error wrapping ENOENT, EISDIR or ENOTDIR otherwise.
func (d *Dir) Check(name string) error { return rootCheck(d.root, name) }
