package compress_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// python is the interpreter CI installs Python partd 1.3 for. The interop
// test fails, never skips, when it or partd is missing.
const python = "/usr/bin/python3"

// interopCase is one key's history: appends in order, then an optional Set.
type interopCase struct {
	key     string
	appends [][]byte
	set     []byte
}

func (c interopCase) want() []byte {
	if c.set != nil {
		return c.set
	}
	return bytes.Join(c.appends, nil)
}

func interopCases() []interopCase {
	all := make([]byte, 0, 1024)
	for i := range 1024 {
		all = append(all, byte(i))
	}
	var multi [][]byte
	for i := range 60 {
		multi = append(multi, fmt.Appendf(nil, "row %d,%s\n", i, strings.Repeat("ab", i)))
	}
	return []interopCase{
		{key: "empty-ish", appends: [][]byte{{}, []byte("x"), {}, {0}}},
		{key: "one-byte", appends: [][]byte{{0xff}}},
		{key: "binary", appends: [][]byte{all, all[:7], all[100:]}},
		{key: "multi.append", appends: multi},
		{key: "big_1MiB", appends: [][]byte{randBytes(7, 1<<20), bytes.Repeat([]byte("text,"), 20_000)}},
		{key: "zeros", appends: [][]byte{make([]byte, 70_000)}},
		{key: "tuple/key-1", appends: [][]byte{[]byte("in a "), []byte("tuple key")}},
		{key: "set-me", appends: [][]byte{[]byte("old value")}, set: []byte("replaced by iset")},
	}
}

// writeSpec writes the cases for interop.py (see its doc string).
func writeSpec(t *testing.T, cases []interopCase) string {
	t.Helper()
	dir := t.TempDir()
	var keys strings.Builder
	for ki, c := range cases {
		keys.WriteString(c.key + "\n")
		for ai, a := range c.appends {
			check(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("a.%d.%d", ki, ai)), a, 0o644))
		}
		if c.set != nil {
			check(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("s.%d", ki)), c.set, 0o644))
		}
		check(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("e.%d", ki)), c.want(), 0o644))
	}
	check(t, os.WriteFile(filepath.Join(dir, "keys.txt"), []byte(keys.String()), 0o644))
	return dir
}

func runPython(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(python, append([]string{filepath.Join("testdata", "interop.py")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", python, strings.Join(args, " "), err, out)
	}
	t.Logf("python %s: %s", args[0], bytes.TrimSpace(out))
}

// TestPythonInterop checks that Python partd 1.3 reads what ZLib and Snappy
// write over a File store and that they read what it writes; and the same
// for Zstd and partd.Encode over Python's zstandard module, which is how
// Python partd users get zstd.
func TestPythonInterop(t *testing.T) {
	for _, algo := range []struct {
		py   string
		wrap func(partd.Store, ...compress.Option) partd.Store
	}{{"ZLib", compress.ZLib}, {"Snappy", compress.Snappy}, {"Zstd", compress.Zstd}} {
		t.Run(algo.py, func(t *testing.T) {
			cases := interopCases()
			spec := writeSpec(t, cases)

			// Go writes, Python reads.
			goDir := t.TempDir()
			f, err := partd.NewFile(goDir)
			check(t, err)
			s := algo.wrap(f)
			for ai := 0; ; ai++ {
				batch := make(map[string][]byte)
				for _, c := range cases {
					if ai < len(c.appends) {
						batch[c.key] = c.appends[ai]
					}
				}
				if len(batch) == 0 {
					break
				}
				check(t, s.Append(batch))
			}
			for _, c := range cases {
				if c.set != nil {
					check(t, s.Set(c.key, c.set))
				}
			}
			check(t, s.Close())
			runPython(t, "read", algo.py, goDir, spec)

			// Python writes, Go reads, appends, and Python reads again.
			pyDir := t.TempDir()
			runPython(t, "write", algo.py, pyDir, spec)
			f, err = partd.NewFile(pyDir)
			check(t, err)
			s = algo.wrap(f)
			defer s.Close()
			keys := make([]string, len(cases))
			for i, c := range cases {
				keys[i] = c.key
			}
			got, err := s.Get(keys...)
			check(t, err)
			for i, c := range cases {
				if !bytes.Equal(got[i], c.want()) {
					t.Errorf("%s: Go read %d bytes of Python's %q, want %d", algo.py, len(got[i]), c.key, len(c.want()))
				}
			}
			batch := make(map[string][]byte)
			for i := range cases {
				tail := fmt.Appendf(nil, "|appended by Go to %s", cases[i].key)
				batch[cases[i].key] = tail
				cases[i].appends = append([][]byte{cases[i].want()}, tail)
				cases[i].set = nil
			}
			check(t, s.Append(batch))
			runPython(t, "read", algo.py, pyDir, writeSpec(t, cases))
		})
	}
}
