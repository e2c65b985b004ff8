package partd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/osfile"
)

var (
	_ KeySizer     = (*File)(nil)
	_ PrefixLister = (*File)(nil)
	_ Popper       = (*File)(nil)
)

// Sizes returns the number of bytes each key holds: the size of its file,
// from fstat(2), without reading it.
func (f *File) Sizes(keys ...string) ([]int64, error) {
	release, err := f.beginRead("sizes")
	if err != nil {
		return nil, err
	}
	defer release()
	sizes := make([]int64, len(keys))
	for i, k := range keys {
		if keypath.Validate(k) != nil {
			continue // no such key can be stored
		}
		n, err := f.sizeKey(k)
		if err != nil {
			return nil, fmt.Errorf("partd: sizes %q: %w", k, err)
		}
		sizes[i] = n
	}
	return sizes, nil
}

// sizeKey returns the size of key's file, as readKey would read it: 0 for
// a missing file or a directory of tuple keys, an error for anything else
// that is not a regular file.
func (f *File) sizeKey(key string) (int64, error) {
	fd, err := f.files.Open(keypath.Encode(key), os.O_RDONLY|osfile.ONonblock, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return 0, nil
		}
		return 0, err
	}
	defer osfile.CloseHandle(fd)
	size, isDir, err := osfile.StatRegular(fd)
	if err != nil || isDir {
		return 0, err
	}
	return size, nil
}

// KeysPrefix returns, sorted, the keys that start with prefix. It reads only
// the directory the prefix names (the part up to its last "/": "df/" and
// "df/part-" read the directory of df), and the directories below it of
// the entries whose key parts start with the rest.
func (f *File) KeysPrefix(prefix string) ([]string, error) {
	release, err := f.beginRead("keys")
	if err != nil {
		return nil, err
	}
	defer release()
	keys, err := f.keysPrefixLocked(prefix)
	if err != nil {
		return nil, fmt.Errorf("partd: keys %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// keysPrefixLocked lists the keys that start with prefix, unsorted. The
// flock must be held.
func (f *File) keysPrefixLocked(prefix string) ([]string, error) {
	dir, rest := ".", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		parent := prefix[:i]
		if keypath.Validate(parent) != nil {
			return nil, nil // not the parent of any valid key
		}
		dir, rest = keypath.Encode(parent), prefix[i+1:]
		// As Keys, follow no symlink: every element of dir must be a
		// directory of its own.
		for p := dir; p != "."; p = path.Dir(p) {
			st, err := f.root.Lstat(p)
			if err != nil || !st.IsDir() {
				return nil, nil
			}
		}
	}
	entries, err := fs.ReadDir(f.root.FS(), dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		// Names are compared as the key parts they decode to: an escaped
		// name ("%x%3A1" for "x:1") does not start as its part does.
		part, ok := keypath.DecodePart(e.Name())
		if !ok || !strings.HasPrefix(part, rest) {
			continue
		}
		if e.IsDir() || e.Type().IsRegular() {
			if err := f.walkKeys(path.Join(dir, e.Name()), &keys); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// Pop reads the keys' files and removes them under the exclusive flock, so
// no append, from this process or another, lands between the read and the
// removal. Removing a key's file moves the generation counter, as Delete
// does.
func (f *File) Pop(keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		f.mu.RLock()
		defer f.mu.RUnlock()
		if f.closed {
			return nil, errClosed("pop")
		}
		return out, nil
	}
	release, err := f.beginChange("pop")
	if err != nil {
		return nil, err
	}
	defer release()
	if out, err = f.readKeysLocked("pop", out, keys); err != nil {
		return nil, err
	}
	if err := f.deleteLocked(keys); err != nil {
		return nil, err
	}
	return out, nil
}
