//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package partd

// sysDir is empty on macOS and the BSDs: they have no openat2(2), so key
// files are opened through the store's os.Root, which resolves each path
// element beneath the directory (no "..", no absolute path and no symlink
// leads out of it).
type sysDir struct{}

func (*sysDir) open(string) {}

func (*sysDir) close() {}

// openKey opens the file name beneath the store's directory and returns its
// descriptor. No key escapes the directory.
func (f *File) openKey(name string, flags int, mode uint32) (keyFD, error) {
	return rootOpen(f.root, name, flags, mode)
}

// checkKey tells what opening name to append would: nil for a regular
// file, an error wrapping ENOENT, EISDIR or ENOTDIR otherwise.
func (f *File) checkKey(name string) error { return rootCheck(f.root, name) }
