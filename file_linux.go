package partd

import (
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// sysDir is the store's directory opened for openat2(2), which opens a key's
// file in one system call and never beneath anything but the directory.
type sysDir struct {
	dirfd int // the directory, for openat2; -1 where openat2 is unavailable
}

// open opens dir for openat2 if the kernel has it; where it does not (an
// old kernel, a seccomp filter), keys are opened through os.Root.
func (s *sysDir) open(dir string) {
	s.dirfd = -1
	if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		s.dirfd = fd
		probe, err := s.openat2(lockName, unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(probe)
		} else {
			unix.Close(fd) // no openat2 here: use os.Root
			s.dirfd = -1
		}
	}
}

func (s *sysDir) close() {
	if s.dirfd >= 0 {
		unix.Close(s.dirfd)
	}
}

// openat2 opens name (a relative path with "/" separators) beneath the
// store's directory without following any symlink.
func (s *sysDir) openat2(name string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(s.dirfd, name, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openKey opens the file name beneath the store's directory and returns its
// descriptor. It takes one system call where openat2 is available; elsewhere
// it goes through os.Root. Either way no key escapes the directory.
func (f *File) openKey(name string, flags int, mode uint32) (keyFD, error) {
	if f.sys.dirfd >= 0 {
		fd, err := f.sys.openat2(name, flags, mode)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
	return rootOpen(f.root, name, flags, mode)
}

// checkKey tells what opening name to append would: nil for a regular
// file, an error wrapping ENOENT, EISDIR or ENOTDIR otherwise, in one
// fstatat(2) and without opening anything. (The write that follows opens the
// file with openKey, which never leaves the directory.)
func (f *File) checkKey(name string) error {
	if f.sys.dirfd < 0 {
		return rootCheck(f.root, name)
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(f.sys.dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
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
