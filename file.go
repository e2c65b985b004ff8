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
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/par"
)

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
// on dir/.lock: exclusive for changes, shared for reads, so appends from all
// processes land whole and Get never sees half an append. Append keeps file
// handles open between calls; a Delete, Set or Drop by any process bumps a
// generation counter stored in the lock file, and every process closes its
// handles when it sees the counter move, so no handle outlives the file it
// was opened on.
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
	root  *os.Root
	dirfd int // the directory, for openat2; -1 where openat2 is unavailable
	// batchOpen bounds the files one Append keeps open at once besides the
	// cached handles: a quarter of the process's limit, at most 16384.
	batchOpen int
	lock      *os.File // dir/.lock: the flock, and the generation counter at offset 0

	mu      sync.RWMutex // guards the fields below; taken before the flock
	closed  bool
	gen     uint64         // generation the cached handles belong to
	handles map[string]int // cached append file descriptors by key; changed under mu.Lock only

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
	f := &File{handles: make(map[string]int), dirfd: -1}
	if opts != nil {
		f.opts = *opts
	}
	fileLimit := openFileLimit()
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
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: %w", err)
	}
	f.root = root
	lockFlags := os.O_RDWR | os.O_CREATE
	if f.opts.NoCreate {
		lockFlags = os.O_RDWR
	}
	lock, err := root.OpenFile(lockName, lockFlags, 0o644)
	if err != nil {
		root.Close()
		f.cleanupTemp()
		return nil, fmt.Errorf("partd: file: lock: %w", err)
	}
	f.lock = lock
	if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		f.dirfd = fd
		probe, err := f.openat2(lockName, unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(probe)
		} else {
			unix.Close(fd) // no openat2 here (an old kernel, a seccomp filter): use os.Root
			f.dirfd = -1
		}
	}
	return f, nil
}

// prepareStoreDir makes sure dir can be opened as a store marked by a file
// named lockName: it exists (or is created, unless noCreate) and is empty or
// holds that file (unless adopt). Python partd's stores hold .lock too.
func prepareStoreDir(dir string, noCreate, adopt bool) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && noCreate:
		return fmt.Errorf("partd: no such store %s: %w", dir, err)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("partd: file: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("partd: file: %w", err)
	case !st.IsDir():
		return fmt.Errorf("partd: file: %s is not a directory: %w", dir, ErrNotStore)
	}
	if _, err := os.Lstat(filepath.Join(dir, lockName)); err == nil {
		return nil
	}
	if noCreate {
		return fmt.Errorf("partd: no such store %s: %w (the directory has no %s)", dir, ErrNotStore, lockName)
	}
	if adopt {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("partd: file: %w", err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("partd: file: %s: %w: it holds files but no %s (FileOptions.Adopt opens it anyway)", dir, ErrNotStore, lockName)
	}
	return nil
}

// openat2 opens name (a relative path with "/" separators) beneath the
// store's directory without following any symlink.
func (f *File) openat2(name string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(f.dirfd, name, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openKey opens the file name beneath the store's directory and returns its
// descriptor. It takes one system call where openat2 is available; elsewhere
// it goes through os.Root. Either way no key escapes the directory.
func (f *File) openKey(name string, flags int, mode uint32) (int, error) {
	if f.dirfd >= 0 {
		fd, err := f.openat2(name, flags, mode)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
	h, err := f.root.OpenFile(name, flags, fs.FileMode(mode))
	if err != nil {
		return -1, err
	}
	defer h.Close()
	fd, err := unix.Dup(int(h.Fd()))
	if err != nil {
		return -1, &fs.PathError{Op: "dup", Path: name, Err: err}
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// checkKey tells what opening name to append would: nil for a regular
// file, an error wrapping ENOENT, EISDIR or ENOTDIR otherwise, in one
// fstatat(2) and without opening anything. (The write that follows opens the
// file with openKey, which never leaves the directory.)
func (f *File) checkKey(name string) error {
	if f.dirfd < 0 {
		fd, err := f.openKey(name, unix.O_WRONLY|unix.O_APPEND, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(f.dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
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

// writeAll writes all of b to fd and returns how many bytes it wrote.
func writeAll(fd int, b []byte) (int64, error) {
	var done int64
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		b = b[n:]
		done += int64(n)
	}
	return done, nil
}

// writevAll writes the concatenation of vec to fd, in writev calls of at
// most IOV_MAX pieces, and returns how many bytes it wrote.
func writevAll(fd int, vec [][]byte) (int64, error) {
	const iovMax = 1024
	var done int64
	vec = slices.Clone(vec) // advanced in place below
	for len(vec) > 0 {
		n, err := unix.Writev(fd, vec[:min(len(vec), iovMax)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += int64(n)
		for n > 0 && len(vec) > 0 {
			if n >= len(vec[0]) {
				n -= len(vec[0])
				vec = vec[1:]
			} else {
				vec[0] = vec[0][n:]
				n = 0
			}
		}
		for len(vec) > 0 && len(vec[0]) == 0 {
			vec = vec[1:]
		}
	}
	return done, nil
}

// openFileLimit returns the process's limit on open files (at least 64).
func openFileLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return 64
	}
	return int(min(lim.Cur, 1<<20))
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

// beginChange takes f.mu and the exclusive flock for a change; the caller
// calls release when done.
func (f *File) beginChange(op string) (release func(), err error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, fmt.Errorf("partd: %s: %w", op, ErrClosed)
	}
	if err := f.lockExclusive(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	return func() { f.unlockExclusive(); f.mu.Unlock() }, nil
}

// beginRead takes f.mu for reading and the shared flock; the caller calls
// release when done.
func (f *File) beginRead(op string) (release func(), err error) {
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return nil, fmt.Errorf("partd: %s: %w", op, ErrClosed)
	}
	if err := f.lockShared(); err != nil {
		f.mu.RUnlock()
		return nil, err
	}
	return func() { f.unlockShared(); f.mu.RUnlock() }, nil
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
	for k, fd := range f.handles {
		unix.Close(fd)
		delete(f.handles, k)
	}
}

func (f *File) closeHandleLocked(key string) {
	if fd, ok := f.handles[key]; ok {
		unix.Close(fd)
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
// keys[i], with one writev(2) per key: a Buffer spills a Dict's chunks
// through it without joining them first. The batch is checked as Append
// checks a map.
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

// appendJobs writes a batch of distinct, valid keys.
func (f *File) appendJobs(jobs []appendJob) error {
	release, err := f.beginChange("append")
	if err != nil {
		return err
	}
	defer release()

	// Open every file first, so a key that conflicts with a stored one
	// rejects the batch before anything is written. The values of a batch go
	// to distinct files, so opens and writes run on all cores.
	//
	// A batch keeps at most f.batchOpen files open besides the cached
	// ones: the files of the other keys are opened to check them, closed,
	// and opened again only for their write.
	kept := 0
	for i := range jobs {
		j := &jobs[i]
		j.fd, j.cached = f.handles[j.key]
		if !j.cached {
			j.fd = -1
			j.transient = kept >= f.batchOpen
			kept++
		}
	}
	closeOpened := func() {
		for i := range jobs {
			if !jobs[i].cached && jobs[i].fd >= 0 {
				unix.Close(jobs[i].fd)
			}
		}
	}
	par.Do(len(jobs), workers(len(jobs)), func(_, i int) {
		j := &jobs[i]
		switch {
		case j.cached:
		case j.transient:
			j.err = f.checkKey(keypath.Encode(j.key))
		default:
			j.fd, j.err = f.openKey(keypath.Encode(j.key), unix.O_WRONLY|unix.O_APPEND, 0)
		}
	})
	for i := range jobs {
		j := &jobs[i]
		switch {
		case j.err == nil:
		case errors.Is(j.err, fs.ErrNotExist):
			j.err = nil
			if j.fd, j.err = f.createLocked(keypath.Encode(j.key), j.key, unix.O_WRONLY|unix.O_APPEND); j.err != nil {
				closeOpened()
				return fmt.Errorf("partd: append %q: %w", j.key, j.err)
			}
			if j.transient {
				unix.Close(j.fd)
				j.fd = -1
			}
		default:
			closeOpened()
			if cerr := conflictErr("append", j.key, j.err); cerr != nil {
				return cerr
			}
			return fmt.Errorf("partd: append %q: %w", j.key, j.err)
		}
	}
	par.Do(len(jobs), workers(len(jobs)), func(_, i int) {
		j := &jobs[i]
		fd := j.fd
		if j.transient {
			if fd, j.err = f.openKey(keypath.Encode(j.key), unix.O_WRONLY|unix.O_APPEND, 0); j.err != nil {
				return
			}
			defer unix.Close(fd)
		}
		if j.vec != nil {
			j.written, j.err = writevAll(fd, j.vec)
		} else {
			j.written, j.err = writeAll(fd, j.value)
		}
		if j.err == nil && f.opts.Sync {
			j.err = unix.Fsync(fd)
		}
	})
	var werr error
	opened := make(map[string]int)
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil && werr == nil {
			werr = fmt.Errorf("partd: append %q: %w", j.key, j.err)
		}
		if !j.cached && !j.transient {
			opened[j.key] = j.fd
		}
	}
	if werr != nil {
		werr = errors.Join(werr, f.rollback(jobs))
	}
	f.keepHandlesLocked(opened)
	return werr
}

// rollback truncates every file of a failed batch back to its size before
// the batch, so that a failed Append leaves no part of itself behind. The
// exclusive flock is held: nobody else has written since.
func (f *File) rollback(jobs []appendJob) error {
	var errs []error
	for i := range jobs {
		j := &jobs[i]
		if j.written == 0 {
			continue
		}
		fd, err := j.fd, error(nil)
		if j.transient {
			if fd, err = f.openKey(keypath.Encode(j.key), unix.O_WRONLY, 0); err == nil {
				defer unix.Close(fd)
			}
		}
		var st unix.Stat_t
		if err == nil {
			err = unix.Fstat(fd, &st)
		}
		if err == nil {
			err = unix.Ftruncate(fd, st.Size-j.written)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("partd: append %q: undo %d bytes: %w", j.key, j.written, err))
		}
	}
	return errors.Join(errs...)
}

// appendJob is one value of an Append batch.
type appendJob struct {
	key       string
	value     []byte
	vec       [][]byte // instead of value: pieces written with one writev
	fd        int
	cached    bool  // fd belongs to f.handles
	transient bool  // beyond batchOpenFiles: opened only for the write
	written   int64 // bytes written so far
	err       error
}

// minParallel is the smallest number of system calls worth splitting
// across goroutines.
const minParallel = 64

// workers is how many goroutines share n system calls of one batch.
func workers(n int) int { return min(runtime.GOMAXPROCS(0), n/minParallel) }

// keepHandlesLocked caches new append handles, evicting others to stay
// within MaxOpenFiles.
func (f *File) keepHandlesLocked(opened map[string]int) {
	limit := f.opts.MaxOpenFiles
	for k, fd := range opened {
		if len(f.handles) >= limit {
			if limit <= 0 || len(opened) > limit {
				unix.Close(fd)
				continue
			}
			for old, ofd := range f.handles { // map order is random: random eviction
				unix.Close(ofd)
				delete(f.handles, old)
				break
			}
		}
		f.handles[k] = fd
	}
}

// createLocked creates the file name (and its parent directories) for key
// and opens it with flag. The exclusive flock must be held.
func (f *File) createLocked(name, key string, flag int) (int, error) {
	if dir := path.Dir(name); dir != "." {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			if cerr := conflictErr("create", key, err); cerr != nil {
				return -1, cerr
			}
			return -1, err
		}
	}
	fd, err := f.openKey(name, flag|unix.O_CREAT, 0o644)
	if err != nil {
		if cerr := conflictErr("create", key, err); cerr != nil {
			return -1, cerr
		}
		return -1, err
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
	for i, k := range keys {
		if keypath.Validate(k) != nil {
			continue // no such key can be stored
		}
		v, err := f.readKey(dst[i], k)
		if err != nil {
			return nil, fmt.Errorf("partd: get %q: %w", k, err)
		}
		dst[i] = v
	}
	return dst, nil
}

// readKey appends a key's bytes to dst. If dst must grow, the new slice
// keeps dst's spare capacity after the key's bytes.
func (f *File) readKey(dst []byte, key string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at a key's path must not block the read.
	fd, err := f.openKey(keypath.Encode(key), unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return dst, nil
		}
		return dst, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return dst, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return dst, nil // a directory holding tuple keys under this one
	default:
		return dst, fmt.Errorf("not a regular file (mode %o)", st.Mode)
	}
	if st.Size == 0 {
		return dst, nil
	}
	start := len(dst)
	if spare := cap(dst) - start; int64(spare) < st.Size {
		grown := make([]byte, start, int64(start)+st.Size+int64(spare))
		copy(grown, dst)
		dst = grown
	}
	// The size cannot change under the shared flock (unless a process that
	// ignores the lock writes): read exactly that much.
	buf := dst[start : int64(start)+st.Size]
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst[:start], err
		}
		if m == 0 {
			break // truncated under us: return what is there
		}
		n += m
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
	fd, err := f.createLocked(tmp, key, unix.O_WRONLY|unix.O_EXCL)
	if err != nil {
		if errors.Is(err, ErrInvalidKey) {
			return fmt.Errorf("partd: set %q: %w: a stored key is a parent of it", key, ErrInvalidKey)
		}
		return fmt.Errorf("partd: set %q: %w", key, err)
	}
	_, err = writeAll(fd, value)
	if err == nil && f.opts.Sync {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
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
			return fmt.Errorf("partd: delete: %w", ErrClosed)
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
	err = fs.WalkDir(f.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
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
	if f.dirfd >= 0 {
		unix.Close(f.dirfd)
	}
	err := errors.Join(f.lock.Close(), f.root.Close())
	if f.temp {
		err = errors.Join(err, os.RemoveAll(f.dir))
	}
	if err != nil {
		return fmt.Errorf("partd: close: %w", err)
	}
	return nil
}
