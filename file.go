package partd

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/osfile"
)

// The File store is split by concern:
//
//	file.go           the Store API: opening, Append, Get, Set, Delete, Keys, Drop, Close
//	file_capability.go  Sizes, KeysPrefix and Pop, without reading more than they need
//	file_lock.go      the cross-process lock protocol and the generation counter
//	file_append.go    the append pipeline (appendJobs and its steps)
//
// Every system call goes through internal/osfile: opening key files beneath
// the directory (openat2 on Linux, os.Root elsewhere), the flock, and the
// write path (osfile.FS: writes, writev, fsync, truncation), which tests
// wrap to inject failures (internal/errorfs).

// lockName is the lock file in every File directory. No key maps to it.
const lockName = ".lock"

// tmpPrefix starts the names of the temporary files Set writes before it
// renames them into place. No key maps to a name that starts with ".".
const tmpPrefix = ".tmp-"

// FileOptions tunes a File store. A nil *FileOptions means the defaults.
type FileOptions struct {
	// MaxOpenFiles bounds the append handles kept open between calls.
	// 0 means a quarter of the process's open-file limit, at most 16384;
	// a negative value keeps none.
	MaxOpenFiles int
	// Sync makes every Append and Set call fsync the files it wrote before
	// it returns, so a returned append survives a machine crash, not only a
	// process crash.
	Sync bool
	// NoCreate opens only a store that exists: a missing directory, or one
	// without a store's .lock, is an error and nothing is created. Commands
	// that only read use it.
	NoCreate bool
	// Adopt opens a non-empty directory that holds no store (no .lock) as a
	// store anyway. Its files whose names are key names then count as keys:
	// Keys lists them and Drop removes them. Without Adopt such a directory
	// is refused with ErrNotStore, so a mistyped path never lists or drops
	// files that no store wrote.
	Adopt bool
}

// File is a Store that keeps one file per key in a directory, Python partd's
// File: key "a/b" lives at dir/a/b. Keys whose parts are not made only of
// [A-Za-z0-9_.() -] are escaped losslessly (see the package documentation of
// internal/keypath); plain ones are their own file names, so Python partd
// reads such stores as they are.
//
// Many processes may open the same directory. Every call takes an flock(2)
// on dir/.lock (LockFileEx on Windows): exclusive for changes, shared for
// reads, so appends from all processes land whole and Get never sees half
// an append. Append keeps file handles open between calls; a Delete, Set or
// Drop by any process bumps a generation counter stored in the lock file,
// and every process closes its handles when it sees the counter move, so no
// handle outlives the file it was opened on.
//
// Python partd locks the same dir/.lock with flock, so Python and Go
// processes may append to and read one directory together. A Python
// process's delete or drop does not move the generation counter, though:
// where Python processes delete keys that Go processes append to, open the
// Go side with MaxOpenFiles: -1.
//
// An Append that fails with an I/O error (a full disk, say) truncates the
// files it wrote back to their sizes before it, so it leaves nothing behind;
// values are never torn by another process's appends.
type File struct {
	dir   string
	temp  bool // dir was made by NewFile("") and is removed by Close
	opts  FileOptions
	files *osfile.Dir // the directory: key files open beneath it (openat2 on Linux)
	root  *os.Root    // files.Root(): directories, renames, removals, listings
	fs    osfile.FS   // the write path: osfile.Default, or a test's faults
	// batchOpen bounds the files one Append keeps open at once besides the
	// cached handles: a quarter of the process's limit, at most 16384.
	batchOpen int
	lock      *os.File // dir/.lock: the flock, and the generation counter at offset 0

	mu      sync.RWMutex // guards the fields below; taken before the flock
	closed  bool
	gen     uint64                   // generation the cached handles belong to
	handles map[string]osfile.Handle // cached append file descriptors by key; changed under mu.Lock only

	shared struct { // reference count of the shared flock held by readers under mu.RLock
		sync.Mutex
		n int
	}
}

var (
	_ Store          = (*File)(nil)
	_ VectorAppender = (*File)(nil)
	_ GetAppender    = (*File)(nil)
)

// NewFile opens (creating it if needed) a File store in dir with default
// options. NewFile("") makes a temporary directory that Close removes; a
// given directory is never removed by Close.
func NewFile(dir string) (*File, error) { return OpenFile(dir, nil) }

// OpenFile is NewFile with options.
func OpenFile(dir string, opts *FileOptions) (*File, error) {
	f := &File{handles: make(map[string]osfile.Handle), fs: osfile.Default}
	if opts != nil {
		f.opts = *opts
	}
	fileLimit := osfile.OpenFileLimit()
	if f.opts.MaxOpenFiles == 0 {
		f.opts.MaxOpenFiles = min(fileLimit/4, 16384)
	}
	f.batchOpen = min(fileLimit/4, 16384)
	if dir == "" {
		d, err := os.MkdirTemp("", "partd-*")
		if err != nil {
			return nil, fmt.Errorf("partd: file: %w", err)
		}
		dir, f.temp = d, true
	} else if err := prepareStoreDir(dir, f.opts.NoCreate, f.opts.Adopt); err != nil {
		return nil, err
	}
	f.dir = dir
	files, err := osfile.OpenDir(dir)
	if err != nil {
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: %w", err)
	}
	f.files, f.root = files, files.Root()
	lockFlags := os.O_RDWR | os.O_CREATE
	if f.opts.NoCreate {
		lockFlags = os.O_RDWR
	}
	lock, err := f.root.OpenFile(lockName, lockFlags, 0o644)
	if err != nil {
		files.Close()
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: lock: %w", err)
	}
	f.lock = lock
	return f, nil
}

// prepareStoreDir makes sure dir can be opened as a store marked by a file
// named lockName: it exists (or is created, unless noCreate) and is empty or
// holds that file (unless adopt). Python partd's stores hold .lock too.
func prepareStoreDir(dir string, noCreate, adopt bool) error {
	return prepareDir(dir, "file", lockName, "", noCreate, adopt, " (FileOptions.Adopt opens it anyway)")
}

// prepareDir makes sure dir can be opened as a store of kind marked by a
// file named marker: it exists (or is created, unless noCreate) and is
// empty or holds marker (unless adopt). A directory holding other (a File
// store's lock) instead is another kind of store, refused. hint ends the error for a directory
// of other files.
func prepareDir(dir, kind, marker, other string, noCreate, adopt bool, hint string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && noCreate:
		return fmt.Errorf("partd: no such store %s: %w", dir, err)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("partd: %s: %w", kind, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("partd: %s: %w", kind, err)
	case !st.IsDir():
		return fmt.Errorf("partd: %s: %s is not a directory: %w", kind, dir, ErrNotStore)
	}
	if _, err := os.Lstat(filepath.Join(dir, marker)); err == nil {
		return nil
	}
	if noCreate {
		return fmt.Errorf("partd: no such store %s: %w (the directory has no %s)", dir, ErrNotStore, marker)
	}
	if other != "" {
		if _, err := os.Lstat(filepath.Join(dir, other)); err == nil {
			return fmt.Errorf("partd: %s: %s: %w: it is another kind of store (it has %s, as a File store does)", kind, dir, ErrNotStore, other)
		}
	}
	if adopt {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("partd: %s: %w", kind, err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		// Another process opening the same new store may have made its
		// marker since the Lstat above: then it is a store after all.
		if _, err := os.Lstat(filepath.Join(dir, marker)); err == nil {
			return nil
		}
		return fmt.Errorf("partd: %s: %s: %w: it holds files but no %s%s", kind, dir, ErrNotStore, marker, hint)
	}
	return nil
}

func (f *File) cleanupTemp() {
	if f.temp {
		os.RemoveAll(f.dir)
	}
}

// Dir returns the store's directory.
func (f *File) Dir() string { return f.dir }

// conflictErr reports whether err from opening a key's file means the key
// cannot exist beside a stored one ("x" and "x/y") or is too long, and if so
// returns the ErrInvalidKey error to give the caller.
func conflictErr(op, key string, err error) error {
	switch {
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("partd: %s %q: %w: stored keys live under it", op, key, ErrInvalidKey)
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("partd: %s %q: %w: a stored key is a parent of it", op, key, ErrInvalidKey)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return fmt.Errorf("partd: %s %q: %w: file name too long", op, key, ErrInvalidKey)
	}
	return nil
}

// Append adds each value to the end of its key's file.
func (f *File) Append(data map[string][]byte) error {
	if err := ValidateBatch(data); err != nil {
		return err
	}
	jobs := make([]appendJob, 0, len(data))
	for k, v := range data {
		if len(v) > 0 {
			jobs = append(jobs, appendJob{key: k, value: v})
		}
	}
	return f.appendJobs(jobs)
}

// AppendVectors appends, for each i, the concatenation of vecs[i] to
// keys[i], with one writev(2) per key where the system has it: a Buffer
// spills a Dict's chunks through it without joining them first. The batch
// is checked as Append checks a map.
func (f *File) AppendVectors(keys []string, vecs [][][]byte) error {
	if _, err := vectorBatch(keys, vecs); err != nil {
		return err
	}
	jobs := make([]appendJob, 0, len(keys))
	for i, k := range keys {
		if len(vecs[i]) > 0 {
			jobs = append(jobs, appendJob{key: k, vec: vecs[i]})
		}
	}
	return f.appendJobs(jobs)
}

// createLocked creates the file name (and its parent directories) for key
// and opens it with flag. The exclusive flock must be held.
func (f *File) createLocked(name, key string, flag int) (osfile.Handle, error) {
	if dir := path.Dir(name); dir != "." {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			if cerr := conflictErr("create", key, err); cerr != nil {
				return osfile.NoHandle, cerr
			}
			return osfile.NoHandle, err
		}
	}
	fd, err := f.files.Open(name, flag|os.O_CREATE, 0o644)
	if err != nil {
		if cerr := conflictErr("create", key, err); cerr != nil {
			return osfile.NoHandle, cerr
		}
		return osfile.NoHandle, err
	}
	return fd, nil
}

// Get reads each key's file.
func (f *File) Get(keys ...string) ([][]byte, error) { return f.GetAppend(nil, keys...) }

// GetAppend appends each key's bytes to dst[i], reading its file straight
// into dst[i] when it has room (see GetAppender).
func (f *File) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	dst, err := getAppendDst(dst, keys)
	if err != nil {
		return nil, err
	}
	release, err := f.beginRead("get")
	if err != nil {
		return nil, err
	}
	defer release()
	return f.readKeysLocked("get", dst, keys)
}

// readKeysLocked appends each key's bytes to dst[i]; op names the call in
// errors. The flock is held.
func (f *File) readKeysLocked(op string, dst [][]byte, keys []string) ([][]byte, error) {
	for i, k := range keys {
		if keypath.Validate(k) != nil {
			continue // no such key can be stored
		}
		v, err := f.readKey(dst[i], k)
		if err != nil {
			return nil, fmt.Errorf("partd: %s %q: %w", op, k, err)
		}
		dst[i] = v
	}
	return dst, nil
}

// readKey appends a key's bytes to dst. If dst must grow, the new slice
// keeps dst's spare capacity after the key's bytes.
func (f *File) readKey(dst []byte, key string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at a key's path must not block the read.
	fd, err := f.files.Open(keypath.Encode(key), os.O_RDONLY|osfile.ONonblock, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return dst, nil
		}
		return dst, err
	}
	defer osfile.CloseHandle(fd)
	size, isDir, err := osfile.StatRegular(fd)
	if err != nil {
		return dst, err
	}
	if isDir || size == 0 {
		return dst, nil // a directory holds tuple keys under this one
	}
	start := len(dst)
	if spare := cap(dst) - start; int64(spare) < size {
		grown := make([]byte, start, int64(start)+size+int64(spare))
		copy(grown, dst)
		dst = grown
	}
	// The size cannot change under the shared flock (unless a process that
	// ignores the lock writes): read exactly that much.
	n, err := osfile.ReadFull(fd, dst[start:int64(start)+size])
	if err != nil {
		return dst[:start], err
	}
	return dst[:start+n], nil
}

// Set replaces a key's file atomically: it writes a temporary file beside it
// and renames it into place.
func (f *File) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	release, err := f.beginChange("set")
	if err != nil {
		return err
	}
	defer release()
	if len(value) == 0 {
		return f.deleteLocked([]string{key})
	}
	name := keypath.Encode(key)
	if st, err := f.root.Lstat(name); err == nil && st.IsDir() {
		return fmt.Errorf("partd: set %q: %w: stored keys live under it", key, ErrInvalidKey)
	}
	tmp := path.Join(path.Dir(name), fmt.Sprintf("%s%016x", tmpPrefix, rand.Uint64()))
	fd, err := f.createLocked(tmp, key, os.O_WRONLY|os.O_EXCL)
	if err != nil {
		if errors.Is(err, ErrInvalidKey) {
			return fmt.Errorf("partd: set %q: %w: a stored key is a parent of it", key, ErrInvalidKey)
		}
		return fmt.Errorf("partd: set %q: %w", key, err)
	}
	_, err = f.fs.Write(fd, value)
	if err == nil && f.opts.Sync {
		err = f.fs.Sync(fd)
	}
	if cerr := osfile.CloseHandle(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.root.Rename(tmp, name)
	}
	if err != nil {
		f.root.Remove(tmp)
		return fmt.Errorf("partd: set %q: %w", key, err)
	}
	f.closeHandleLocked(key)
	return f.bumpGenLocked()
}

// Delete removes the keys' files, and directories left empty by them.
func (f *File) Delete(keys ...string) error {
	if len(keys) == 0 {
		f.mu.RLock()
		defer f.mu.RUnlock()
		if f.closed {
			return errClosed("delete")
		}
		return nil
	}
	release, err := f.beginChange("delete")
	if err != nil {
		return err
	}
	defer release()
	return f.deleteLocked(keys)
}

// deleteLocked removes keys' files; the exclusive flock must be held. If it
// removed any, it bumps the generation counter, so that no process keeps
// appending to an unlinked file: every path that unlinks or replaces a key
// file (Delete, Set, Drop) ends in bumpGenLocked.
func (f *File) deleteLocked(keys []string) (err error) {
	removed := false
	for _, k := range keys {
		if keypath.Validate(k) != nil {
			continue
		}
		name := keypath.Encode(k)
		st, serr := f.root.Lstat(name)
		if serr != nil || st.IsDir() {
			continue // unknown key, or a directory of tuple keys
		}
		f.closeHandleLocked(k)
		if rerr := f.root.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("partd: delete %q: %w", k, rerr))
			continue
		}
		removed = true
		f.removeEmptyParents(name)
	}
	if removed {
		err = errors.Join(err, f.bumpGenLocked())
	}
	return err
}

// removeEmptyParents removes the directories above name that are empty.
func (f *File) removeEmptyParents(name string) {
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if f.root.Remove(dir) != nil {
			return // not empty (or gone): stop
		}
	}
}

// Keys lists every key file, sorted.
func (f *File) Keys() ([]string, error) {
	release, err := f.beginRead("keys")
	if err != nil {
		return nil, err
	}
	defer release()
	var keys []string
	if err := f.walkKeys(".", &keys); err != nil {
		return nil, fmt.Errorf("partd: keys: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// walkKeys appends the keys of the key files under start (a directory, or
// "." for the whole store) to keys, unsorted. It follows no symlink and
// skips every name that no key maps to. The flock must be held.
func (f *File) walkKeys(start string, keys *[]string) error {
	return fs.WalkDir(f.root.FS(), start, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		if _, ok := keypath.DecodePart(d.Name()); !ok {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // the lock, a temporary file, a file the user put here
		}
		if !d.Type().IsRegular() {
			return nil
		}
		key, ok := keypath.Decode(name)
		if !ok {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if info.Size() > 0 {
			*keys = append(*keys, key)
		}
		return nil
	})
}

// Drop removes every key file and the directories left empty, and the
// temporary files of interrupted Sets. It leaves the lock file and any file
// whose name no key maps to (a hidden file, a file with an unescaped name
// that is not plain) in place.
func (f *File) Drop() error {
	release, err := f.beginChange("drop")
	if err != nil {
		return err
	}
	defer release()
	f.closeHandlesLocked()
	err = f.dropDir(".")
	if gerr := f.bumpGenLocked(); err == nil {
		err = gerr
	}
	if err != nil {
		return fmt.Errorf("partd: drop: %w", err)
	}
	return nil
}

// dropDir removes the key files under dir and the directories they leave
// empty.
func (f *File) dropDir(dir string) error {
	entries, err := fs.ReadDir(f.root.FS(), dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := path.Join(dir, e.Name())
		_, isKey := keypath.DecodePart(e.Name())
		switch {
		case e.IsDir() && isKey:
			if err := f.dropDir(name); err != nil {
				errs = append(errs, err)
				continue
			}
			f.root.Remove(name) // fails, harmlessly, if the user left a file inside
		case isKey && e.Type().IsRegular(),
			strings.HasPrefix(e.Name(), tmpPrefix) && e.Type().IsRegular():
			if err := f.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Close releases the file handles and the lock. A temporary store's
// directory is removed; a given directory stays.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.closeHandlesLocked()
	err := errors.Join(f.lock.Close(), f.files.Close())
	if f.temp {
		err = errors.Join(err, os.RemoveAll(f.dir))
	}
	if err != nil {
		return fmt.Errorf("partd: close: %w", err)
	}
	return nil
}
