package partd_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/errorfs"
	"github.com/gopartd/partd/internal/osfile"
	"github.com/gopartd/partd/partdtest"
)

func TestFileConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestFileNoCacheConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.OpenFile(t.TempDir(), &partd.FileOptions{MaxOpenFiles: -1, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestFileDropAndCloseOwnOnlyTheirFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir) // an empty directory becomes a store
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{".gitignore": "user", ".hidden/notes": "user", "%%not-an-escape": "user"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Append(map[string][]byte{"a": []byte("1"), "t/u/v": []byte("2"), "odd key!": []byte("3")}); err != nil {
		t.Fatal(err)
	}
	keys, _ := f.Keys()
	if !slices.Equal(keys, []string{"a", "odd key!", "t/u/v"}) {
		t.Fatalf("Keys() = %q: user files must not show up as keys", keys)
	}
	if err := f.Drop(); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return nil
	})
	slices.Sort(left)
	if want := []string{"%%not-an-escape", ".gitignore", ".hidden", ".hidden/notes", ".lock"}; !slices.Equal(left, want) {
		t.Fatalf("after Drop the directory holds %q, want %q", left, want)
	}
	if err := f.Append(map[string][]byte{"a": []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(b) != "again" {
		t.Fatalf("Close of a given directory lost data: %q %v", b, err)
	}

	tmp, err := partd.NewFile("")
	if err != nil {
		t.Fatal(err)
	}
	if err := tmp.Append(map[string][]byte{"x": []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("NewFile(\"\") directory still there after Close: %v", err)
	}
}

func TestFileLockFileCannotBeClobbered(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Append(map[string][]byte{".lock": []byte("key, not lock"), ".tmp-0000000000000000": []byte("key")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(".lock", []byte("set")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".lock")); bytes.Contains(b, []byte("set")) || bytes.Contains(b, []byte("key")) {
		t.Fatalf("a key reached the lock file: %q", b)
	}
	got, _ := f.Get(".lock", ".tmp-0000000000000000")
	if string(got[0]) != "set" || string(got[1]) != "key" {
		t.Fatalf("got %q", got)
	}
}

func TestFileReadErrorsAreErrors(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A key file that is a symlink out of the store: refused, never read.
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Get("escape"); err == nil {
		t.Fatalf("Get through a symlink out of the store returned %q, want an error", v)
	}
	// A key file that is a FIFO: an error, not a hang and not an empty value.
	if err := osfile.Mkfifo(filepath.Join(dir, "fifo")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := f.Get("fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Get of a FIFO key returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get of a FIFO key hangs")
	}
	if err := f.Append(map[string][]byte{"escape": []byte("x")}); err == nil {
		t.Fatal("Append through a symlink out of the store succeeded")
	}
	if b, _ := os.ReadFile("/etc/hostname"); bytes.HasSuffix(b, []byte("x")) {
		t.Fatal("a write escaped the store")
	}
}

func TestFileOverlongKeyIsInvalid(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	long := strings.Repeat("é", 200) // 400 bytes: too long for one file name
	if err := f.Append(map[string][]byte{long: []byte("x")}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("over-long key: err = %v, want ErrInvalidKey", err)
	}
	deep := strings.Repeat("!/", 1500) + "x" // 3001 bytes, but its escaped path is too long
	if err := f.Append(map[string][]byte{deep: []byte("x")}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("over-long path: err = %v, want ErrInvalidKey", err)
	}
}

// FuzzFileKeys appends under fuzzed keys and checks that nothing is written
// outside the store's directory and that Keys returns exactly the key.
func FuzzFileKeys(f *testing.F) {
	for _, s := range []string{"a", "../x", "q/../../etc/hostname", ".lock", "a!", "%41", "a/b", "-|-", " ", "日本"} {
		f.Add(s)
	}
	parent := f.TempDir()
	f.Fuzz(func(t *testing.T, key string) {
		dir, err := os.MkdirTemp(parent, "s")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		s, err := partd.NewFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Append(map[string][]byte{key: []byte("v")})
		if err != nil {
			if !errors.Is(err, partd.ErrInvalidKey) {
				t.Fatalf("key %q: %v", key, err)
			}
			return
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Fatalf("key %q wrote outside the store: %d entries beside it", key, len(entries))
		}
		keys, err := s.Keys()
		if err != nil || len(keys) != 1 || keys[0] != key {
			t.Fatalf("Keys() = %q, %v; want [%q]", keys, err, key)
		}
	})
}

// TestFileInjectedFaults: through the fault-injection seam (the write path
// production takes, writev included), without root or a real device: a
// disk that fills mid-batch, an fsync that fails, and a failed write whose
// undo fails too. An Append that returns an error leaves nothing behind.
func TestFileInjectedFaults(t *testing.T) {
	a, b := bytes.Repeat([]byte("a"), 20<<10), bytes.Repeat([]byte("b"), 20<<10)
	open := func(t *testing.T, opts *partd.FileOptions) (*partd.File, *errorfs.Injector) {
		f, err := partd.OpenFile(t.TempDir(), opts)
		must(t, err)
		t.Cleanup(func() { f.Close() })
		inj := &errorfs.Injector{}
		partd.InjectFileFaults(f, inj)
		must(t, f.Append(map[string][]byte{"a": a, "b": b}))
		return f, inj
	}
	check := func(t *testing.T, s partd.Store, want map[string][]byte) {
		t.Helper()
		for k, v := range want {
			if got := getOne(t, s, k); got != string(v) {
				t.Fatalf("%s: %d bytes, want %d", k, len(got), len(v))
			}
		}
	}
	t.Run("disk full", func(t *testing.T) {
		f, inj := open(t, nil)
		inj.FailWritesAfter(24<<10, syscall.ENOSPC)
		err := f.Append(map[string][]byte{"a": a, "b": b, "c": bytes.Repeat([]byte("c"), 30<<10)})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append past a full disk: err = %v, want ENOSPC", err)
		}
		check(t, f, map[string][]byte{"a": a, "b": b, "c": nil})
		// Vectored appends take the same path.
		err = partd.AppendVectors(f, []string{"a", "d"}, [][][]byte{{a, b}, {b}})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("vectored append past a full disk: err = %v, want ENOSPC", err)
		}
		check(t, f, map[string][]byte{"a": a, "d": nil})
		inj.Heal()
		must(t, f.Append(map[string][]byte{"c": []byte("room again")}))
		check(t, f, map[string][]byte{"a": a, "b": b, "c": []byte("room again")})
	})
	t.Run("fsync fails", func(t *testing.T) {
		f, inj := open(t, &partd.FileOptions{Sync: true})
		inj.FailSync(syscall.EIO)
		if err := f.Append(map[string][]byte{"a": []byte("-lost")}); !errors.Is(err, syscall.EIO) {
			t.Fatalf("append with a failing fsync: %v, want EIO", err)
		}
		if err := f.Set("b", []byte("lost")); !errors.Is(err, syscall.EIO) {
			t.Fatalf("set with a failing fsync: %v, want EIO", err)
		}
		inj.Heal()
		check(t, f, map[string][]byte{"a": a, "b": b})
	})
	t.Run("undo fails", func(t *testing.T) {
		f, inj := open(t, nil)
		inj.FailWritesAfter(3, syscall.ENOSPC)
		inj.FailTruncate(syscall.EIO)
		err := f.Append(map[string][]byte{"a": []byte("-torn")})
		if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "undo") {
			t.Fatalf("append whose undo fails: %v, want ENOSPC and the undo's EIO", err)
		}
	})
}

func TestFileRefusesDirectoryThatIsNotAStore(t *testing.T) {
	user := t.TempDir()
	os.WriteFile(filepath.Join(user, "notes.txt"), []byte("hi"), 0o644)
	os.MkdirAll(filepath.Join(user, "photos"), 0o755)
	os.WriteFile(filepath.Join(user, "photos", "img_001.jpg"), []byte("J"), 0o644)
	_, err := partd.NewFile(user)
	if !errors.Is(err, partd.ErrNotStore) || !strings.Contains(err.Error(), user) {
		t.Fatalf("NewFile on a directory of user files: err = %v, want ErrNotStore naming it", err)
	}
	if _, err := os.Stat(filepath.Join(user, ".lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused directory got a .lock: %v", err)
	}
	// Adopting is explicit; then its key-named files are keys.
	f, err := partd.OpenFile(user, &partd.FileOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.Keys(); !slices.Equal(keys, []string{"notes.txt", "photos/img_001.jpg"}) {
		t.Fatalf("Keys() of an adopted directory = %q", keys)
	}
	f.Close()

	// NoCreate: a missing directory, or one that holds no store, is an error
	// and nothing is created.
	missing := filepath.Join(t.TempDir(), "no", "such")
	if _, err := partd.OpenFile(missing, &partd.FileOptions{NoCreate: true}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such store") {
		t.Fatalf("NoCreate on a missing directory: err = %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("NoCreate created %s", filepath.Dir(missing))
	}
	empty := t.TempDir()
	if _, err := partd.OpenFile(empty, &partd.FileOptions{NoCreate: true}); !errors.Is(err, partd.ErrNotStore) {
		t.Fatalf("NoCreate on an empty directory: err = %v, want ErrNotStore", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("NoCreate wrote %v", entries)
	}

	// A directory with a .lock (ours, or Python partd's) is a store.
	py := t.TempDir()
	os.WriteFile(filepath.Join(py, ".lock"), nil, 0o644)
	os.WriteFile(filepath.Join(py, "k"), []byte("v"), 0o644)
	f, err = partd.OpenFile(py, &partd.FileOptions{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _ := f.Get("k"); string(got[0]) != "v" {
		t.Fatalf("Get in a Python-made store = %q", got[0])
	}
	file := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(file, nil, 0o644)
	if _, err := partd.NewFile(file); !errors.Is(err, partd.ErrNotStore) {
		t.Fatalf("NewFile on a regular file: err = %v, want ErrNotStore", err)
	}
}

// Every change that unlinks or replaces a key's file, made through one
// handle, is seen by another handle that has the file open for appending:
// its next append lands in the key, not in an unlinked file.
func TestFileChangesByOneHandleSeenByAnother(t *testing.T) {
	changes := map[string]struct {
		change func(s partd.Store) error
		want   string
	}{
		"Set":       {func(s partd.Store) error { return s.Set("k", []byte("S")) }, "S2"},
		"SetEmpty":  {func(s partd.Store) error { return s.Set("k", nil) }, "2"},
		"Delete":    {func(s partd.Store) error { return s.Delete("k") }, "2"},
		"Drop":      {func(s partd.Store) error { return s.Drop() }, "2"},
		"RepairCut": {func(s partd.Store) error { _, _, err := compress.Repair(s, "k"); return err }, "2"},
	}
	for name, tc := range changes {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a, err := partd.NewFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := partd.NewFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := a.Append(map[string][]byte{"k": []byte("1")}); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(b); err != nil {
				t.Fatal(err)
			}
			if err := a.Append(map[string][]byte{"k": []byte("2")}); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*partd.File{a, b} {
				if got, _ := s.Get("k"); string(got[0]) != tc.want {
					t.Fatalf("after %s by another handle: Get = %q, want %q", name, got[0], tc.want)
				}
			}
		})
	}
}

func TestFileReopen(t *testing.T) {
	partdtest.RunReopen(t, func(t *testing.T, dir string) partd.Store {
		f, err := partd.NewFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

// TestFileTornTailSuite: a File key torn mid-append keeps a prefix of its
// last append (a compress layer's frames then tell the torn tail, see
// compress.Repair).
func TestFileTornTailSuite(t *testing.T) {
	partdtest.RunTornTail(t, partdtest.TornTail{
		Open: func(t *testing.T, dir string) partd.Store {
			f, err := partd.NewFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		Tear: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "t", "b")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()-5); err != nil {
				t.Fatal(err)
			}
		},
	})
}
