package osfile

import "os"

// Dir is a directory opened so that files are opened beneath it and never
// elsewhere: no "..", absolute path or symlink leads out of it. On Linux a
// file opens with one openat2(2) (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS)
// where the kernel has it; elsewhere through os.Root.
type Dir struct {
	root *os.Root
	sys  dirSys
}

// OpenDir opens the directory dir.
func OpenDir(dir string) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	d := &Dir{root: root}
	d.sys.open(dir)
	return d, nil
}

// Root returns the directory's os.Root, for what Open does not do (make
// directories, rename, remove, list).
func (d *Dir) Root() *os.Root { return d.root }

// Close closes the directory.
func (d *Dir) Close() error {
	d.sys.close()
	return d.root.Close()
}
