package osfile

import (
	"fmt"
	"io/fs"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// dirSys is the directory opened for openat2(2), which opens a file beneath
// it in one system call and never anywhere but beneath it.
type dirSys struct {
	dirfd int // -1 where openat2 is unavailable (an old kernel, a seccomp filter)
}

// open opens dir for openat2 if the kernel has it; where it does not, files
// are opened through os.Root.
func (s *dirSys) open(dir string) {
	s.dirfd = -1
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	s.dirfd = fd
	if probe, err := s.openat2(".", unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		unix.Close(probe)
		return
	}
	unix.Close(fd) // no openat2 here: use os.Root
	s.dirfd = -1
}

func (s *dirSys) close() {
	if s.dirfd >= 0 {
		unix.Close(s.dirfd)
	}
}

// openat2 opens name (a relative path with "/" separators) beneath the
// directory without following any symlink.
func (s *dirSys) openat2(name string, flags int, mode fs.FileMode) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode.Perm())
	}
	for {
		fd, err := unix.Openat2(s.dirfd, name, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Open opens the file name beneath the directory. It takes one system call
// where openat2 is available; elsewhere it goes through os.Root. Either way
// nothing outside the directory is opened.
func (d *Dir) Open(name string, flags int, mode fs.FileMode) (Handle, error) {
	if d.sys.dirfd >= 0 {
		fd, err := d.sys.openat2(name, flags, mode)
		if err != nil {
			return NoHandle, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
	return rootOpen(d.root, name, flags, mode)
}

// Check tells what opening name to append would: nil for a regular file,
// an error wrapping ENOENT, EISDIR or ENOTDIR otherwise, in one fstatat(2)
// and without opening anything.
func (d *Dir) Check(name string) error {
	if d.sys.dirfd < 0 {
		return rootCheck(d.root, name)
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.sys.dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return &fs.PathError{Op: "stat", Path: name, Err: err}
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return &fs.PathError{Op: "stat", Path: name, Err: unix.EISDIR}
		case st.Mode&unix.S_IFMT != unix.S_IFREG:
			return &fs.PathError{Op: "stat", Path: name, Err: fmt.Errorf("not a regular file (mode %o)", st.Mode)}
		}
		return nil
	}
}

// PwritevSupported says whether FS.Pwritev writes with pwritev(2); elsewhere
// it writes piece by piece.
const PwritevSupported = true

// pwritevAll writes the concatenation of vec to f at off with pwritev(2),
// without copying the pieces: at most IOV_MAX pieces and about maxCall
// bytes a call. (One call of tens of megabytes was several times slower
// than the same bytes in calls of a megabyte: the kernel throttles a writer
// by the pages one call dirties.)
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
		vec = AdvanceVec(vec, n)
	}
	return nil
}
