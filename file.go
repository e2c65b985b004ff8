package partd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gopartd/partd/internal/keypath"
)

// lockName is the lock file in every File directory. No key maps to it.
const lockName = ".lock"

// tmpPrefix starts the names of the temporary files Set writes before it
// renames them into place. No key maps to a name that starts with ".".
const tmpPrefix = ".tmp-"

// FileOptions tunes a File store. A nil *FileOptions means the defaults.
type FileOptions struct {
	// MaxOpenFiles bounds the append handles kept open between calls.
	// 0 means a quarter of the process's open-file limit, at most 4096;
	// a negative value keeps none.
	MaxOpenFiles int
	// Sync makes every Append and Set call fsync the files it wrote before
	// it returns, so a returned append survives a machine crash, not only a
	// process crash.
	Sync bool
}

// File is a Store that keeps one file per key in a directory, Python partd's
// File: key "a/b" lives at dir/a/b. Keys whose parts are not made only of
// [A-Za-z0-9_.-] are escaped losslessly (see the package documentation of
// internal/keypath); plain ones are their own file names, so Python partd
// reads such stores as they are.
//
// Many processes may open the same directory. Every call takes an flock(2)
// on dir/.lock: exclusive for changes, shared for reads, so appends from all
// processes land whole and Get never sees half an append. Append keeps file
// handles open between calls; a Delete, Set or Drop by any process bumps a
// generation counter stored in the lock file, and every process closes its
// handles when it sees the counter move, so no handle outlives the file it
// was opened on.
//
// An I/O error in the middle of an Append can leave the values written before
// it in place; values are never torn by another process's appends.
type File struct {
	dir  string
	temp bool // dir was made by NewFile("") and is removed by Close
	opts FileOptions
	root *os.Root
	lock *os.File // dir/.lock: the flock, and the generation counter at offset 0

	mu      sync.RWMutex // guards the fields below; taken before the flock
	closed  bool
	gen     uint64              // generation the cached handles belong to
	handles map[string]*os.File // cached append handles by key; changed under mu.Lock only

	shared struct { // reference count of the shared flock held by readers under mu.RLock
		sync.Mutex
		n int
	}
}

var _ Store = (*File)(nil)

// NewFile opens (creating it if needed) a File store in dir with default
// options. NewFile("") makes a temporary directory that Close removes; a
// given directory is never removed by Close.
func NewFile(dir string) (*File, error) { return OpenFile(dir, nil) }

// OpenFile is NewFile with options.
func OpenFile(dir string, opts *FileOptions) (*File, error) {
	f := &File{handles: make(map[string]*os.File)}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.MaxOpenFiles == 0 {
		f.opts.MaxOpenFiles = defaultMaxOpenFiles()
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "partd-*")
		if err != nil {
			return nil, fmt.Errorf("partd: file: %w", err)
		}
		dir, f.temp = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partd: file: %w", err)
	}
	f.dir = dir
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: %w", err)
	}
	f.root = root
	lock, err := root.OpenFile(lockName, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		root.Close()
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: lock: %w", err)
	}
	f.lock = lock
	return f, nil
}

func defaultMaxOpenFiles() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return 16
	}
	return int(min(lim.Cur/4, 4096))
}

func (f *File) cleanupTemp() {
	if f.temp {
		os.RemoveAll(f.dir)
	}
}

// Dir returns the store's directory.
func (f *File) Dir() string { return f.dir }

// flock wraps unix.Flock, retrying when a signal interrupts the wait.
func (f *File) flock(how int) error {
	for {
		err := unix.Flock(int(f.lock.Fd()), how)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("partd: file: flock: %w", err)
			}
			return nil
		}
	}
}

// lockExclusive takes the exclusive flock and drops cached handles if another
// process changed the store. f.mu must be held for writing.
func (f *File) lockExclusive() error {
	if err := f.flock(unix.LOCK_EX); err != nil {
		return err
	}
	gen, err := f.readGen()
	if err != nil {
		f.flock(unix.LOCK_UN)
		return err
	}
	if gen != f.gen {
		f.closeHandlesLocked()
		f.gen = gen
	}
	return nil
}

func (f *File) unlockExclusive() { f.flock(unix.LOCK_UN) }

// lockShared takes the shared flock for a reader holding f.mu.RLock.
func (f *File) lockShared() error {
	f.shared.Lock()
	defer f.shared.Unlock()
	if f.shared.n == 0 {
		if err := f.flock(unix.LOCK_SH); err != nil {
			return err
		}
	}
	f.shared.n++
	return nil
}

func (f *File) unlockShared() {
	f.shared.Lock()
	defer f.shared.Unlock()
	if f.shared.n--; f.shared.n == 0 {
		f.flock(unix.LOCK_UN)
	}
}

func (f *File) readGen() (uint64, error) {
	var b [8]byte
	n, err := f.lock.ReadAt(b[:], 0)
	if n == len(b) {
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	if err == io.EOF {
		return 0, nil // a new (or Python-made) lock file
	}
	return 0, fmt.Errorf("partd: file: read generation: %w", err)
}

// bumpGenLocked tells every process that files were removed or replaced.
// The exclusive flock must be held.
func (f *File) bumpGenLocked() error {
	f.closeHandlesLocked()
	f.gen++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], f.gen)
	if _, err := f.lock.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("partd: file: write generation: %w", err)
	}
	return nil
}

func (f *File) closeHandlesLocked() {
	for k, h := range f.handles {
		h.Close()
		delete(f.handles, k)
	}
}

func (f *File) closeHandleLocked(key string) {
	if h, ok := f.handles[key]; ok {
		h.Close()
		delete(f.handles, key)
	}
}

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
	if err := validateBatch(data); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("partd: append: %w", ErrClosed)
	}
	if err := f.lockExclusive(); err != nil {
		return err
	}
	defer f.unlockExclusive()

	// Open every file first, so a key that conflicts with a stored one
	// rejects the batch before anything is written.
	opened := make(map[string]*os.File)
	var create []string
	closeOpened := func() {
		for _, h := range opened {
			h.Close()
		}
	}
	for k, v := range data {
		if len(v) == 0 {
			continue
		}
		if _, ok := f.handles[k]; ok {
			continue
		}
		h, err := f.root.OpenFile(keypath.Encode(k), os.O_WRONLY|os.O_APPEND, 0)
		switch {
		case err == nil:
			opened[k] = h
		case errors.Is(err, fs.ErrNotExist):
			create = append(create, k)
		default:
			closeOpened()
			if cerr := conflictErr("append", k, err); cerr != nil {
				return cerr
			}
			return fmt.Errorf("partd: append %q: %w", k, err)
		}
	}
	for _, k := range create {
		h, err := f.createLocked(keypath.Encode(k), k, os.O_WRONLY|os.O_APPEND)
		if err != nil {
			closeOpened()
			return fmt.Errorf("partd: append %q: %w", k, err)
		}
		opened[k] = h
	}

	var werr error
	var synced []*os.File
	for k, v := range data {
		if len(v) == 0 {
			continue
		}
		h := f.handles[k]
		if h == nil {
			h = opened[k]
		}
		if _, err := h.Write(v); err != nil {
			werr = fmt.Errorf("partd: append %q: %w", k, err)
			break
		}
		if f.opts.Sync {
			synced = append(synced, h)
		}
	}
	for _, h := range synced {
		if err := h.Sync(); err != nil && werr == nil {
			werr = fmt.Errorf("partd: append: sync %s: %w", h.Name(), err)
		}
	}
	f.keepHandlesLocked(opened)
	return werr
}

// keepHandlesLocked caches new append handles, evicting others to stay
// within MaxOpenFiles.
func (f *File) keepHandlesLocked(opened map[string]*os.File) {
	max := f.opts.MaxOpenFiles
	for k, h := range opened {
		if len(f.handles) >= max {
			if max <= 0 || len(opened) > max {
				h.Close()
				continue
			}
			for old, oh := range f.handles { // map order is random: random eviction
				oh.Close()
				delete(f.handles, old)
				break
			}
		}
		f.handles[k] = h
	}
}

// createLocked creates the file name (and its parent directories) for key
// and opens it with flag. The exclusive flock must be held.
func (f *File) createLocked(name, key string, flag int) (*os.File, error) {
	if dir := path.Dir(name); dir != "." {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			if cerr := conflictErr("create", key, err); cerr != nil {
				return nil, cerr
			}
			return nil, err
		}
	}
	h, err := f.root.OpenFile(name, flag|os.O_CREATE, 0o644)
	if err != nil {
		if cerr := conflictErr("create", key, err); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return h, nil
}

// Get reads each key's file.
func (f *File) Get(keys ...string) ([][]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fmt.Errorf("partd: get: %w", ErrClosed)
	}
	if err := f.lockShared(); err != nil {
		return nil, err
	}
	defer f.unlockShared()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if keypath.Validate(k) != nil {
			continue // no such key can be stored
		}
		v, err := f.readKey(k)
		if err != nil {
			return nil, fmt.Errorf("partd: get %q: %w", k, err)
		}
		out[i] = v
	}
	return out, nil
}

// readKey returns a key's bytes, nil for a key that holds none.
func (f *File) readKey(key string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at a key's path must not block the read.
	h, err := f.root.OpenFile(keypath.Encode(key), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return nil, nil // a directory holding tuple keys under this one
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", st.Mode().Type())
	}
	size := st.Size()
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(h, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	// The file cannot change under the shared flock unless a process that
	// ignores the lock writes it; read what is there either way.
	if n == len(buf) {
		rest, err := io.ReadAll(h)
		if err != nil {
			return nil, err
		}
		buf = append(buf, rest...)
	} else {
		buf = buf[:n]
	}
	return buf, nil
}

// Set replaces a key's file atomically: it writes a temporary file beside it
// and renames it into place.
func (f *File) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("partd: set: %w", ErrClosed)
	}
	if err := f.lockExclusive(); err != nil {
		return err
	}
	defer f.unlockExclusive()
	if len(value) == 0 {
		_, err := f.deleteLocked([]string{key})
		return err
	}
	name := keypath.Encode(key)
	if st, err := f.root.Lstat(name); err == nil && st.IsDir() {
		return fmt.Errorf("partd: set %q: %w: stored keys live under it", key, ErrInvalidKey)
	}
	tmp := path.Join(path.Dir(name), fmt.Sprintf("%s%016x", tmpPrefix, rand.Uint64()))
	h, err := f.createLocked(tmp, key, os.O_WRONLY|os.O_EXCL)
	if err != nil {
		if errors.Is(err, ErrInvalidKey) {
			return fmt.Errorf("partd: set %q: %w: a stored key is a parent of it", key, ErrInvalidKey)
		}
		return fmt.Errorf("partd: set %q: %w", key, err)
	}
	_, err = h.Write(value)
	if err == nil && f.opts.Sync {
		err = h.Sync()
	}
	if cerr := h.Close(); err == nil {
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("partd: delete: %w", ErrClosed)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := f.lockExclusive(); err != nil {
		return err
	}
	defer f.unlockExclusive()
	removed, err := f.deleteLocked(keys)
	if removed {
		if gerr := f.bumpGenLocked(); err == nil {
			err = gerr
		}
	}
	return err
}

// deleteLocked removes keys' files; the exclusive flock must be held. It
// reports whether any file was removed.
func (f *File) deleteLocked(keys []string) (removed bool, err error) {
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
	return removed, err
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
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fmt.Errorf("partd: keys: %w", ErrClosed)
	}
	if err := f.lockShared(); err != nil {
		return nil, err
	}
	defer f.unlockShared()
	var keys []string
	err := fs.WalkDir(f.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
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
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partd: keys: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Drop removes every key file and the directories left empty, and the
// temporary files of interrupted Sets. It leaves the lock file and any file
// whose name no key maps to (a hidden file, a file with an unescaped name
// that is not plain) in place.
func (f *File) Drop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("partd: drop: %w", ErrClosed)
	}
	if err := f.lockExclusive(); err != nil {
		return err
	}
	defer f.unlockExclusive()
	f.closeHandlesLocked()
	err := f.dropDir(".")
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
	err := errors.Join(f.lock.Close(), f.root.Close())
	if f.temp {
		err = errors.Join(err, os.RemoveAll(f.dir))
	}
	if err != nil {
		return fmt.Errorf("partd: close: %w", err)
	}
	return nil
}
