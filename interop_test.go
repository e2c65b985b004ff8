package partd_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/workload"
)

// python runs a Python partd 1.3 script (Debian python3-partd) and returns
// its standard output. CI installs it; a missing one fails the test.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(workload.PythonBin, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python partd: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func TestPythonReadsGoFileAndBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Append(map[string][]byte{"x": []byte("Hello "), partd.Key("df", "col"): []byte("\x00\x01\xff")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Append(map[string][]byte{"x": []byte("world!")}); err != nil {
		t.Fatal(err)
	}
	got := python(t, `
import sys, partd
p = partd.File(sys.argv[1])
x, col = p.get(['x', ('df', 'col')])
print(x.hex(), col.hex())
p.append({'fromPython': b'py-bytes', ('t', 'u'): b'tuple'})
`, dir)
	if want := fmt.Sprintf("%x %x\n", "Hello world!", "\x00\x01\xff"); got != want {
		t.Fatalf("Python read %q, want %q", got, want)
	}
	vals, err := f.Get("fromPython", "t/u")
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0]) != "py-bytes" || string(vals[1]) != "tuple" {
		t.Fatalf("Go read %q from Python's writes", vals)
	}
	keys, _ := f.Keys()
	if strings.Join(keys, ",") != "df/col,fromPython,t/u,x" {
		t.Fatalf("Keys() = %q", keys)
	}
}

// Python partd locks dir/.lock with flock, as File does, so Python and Go
// processes appending to one directory never tear each other's records.
func TestGoAndPythonAppendTogether(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	const n = 3000
	py := exec.Command(workload.PythonBin, "-c", `
import sys, partd
p = partd.File(sys.argv[1])
for i in range(int(sys.argv[2])):
    p.append({'shared': b'<w01:%06d>' % i})
`, dir, fmt.Sprint(n))
	var stderr bytes.Buffer
	py.Stderr = &stderr
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- py.Wait() }()
	for { // wait until Python is appending
		select {
		case err := <-done:
			t.Fatalf("python exited before it appended: %v\n%s", err, stderr.String())
		default:
		}
		v, err := f.Get("shared")
		if err != nil {
			t.Fatal(err)
		}
		if len(v[0]) > 0 {
			break
		}
	}
	goCount := 0
	var pyErr error
loop:
	for {
		select {
		case pyErr = <-done:
			break loop
		default:
		}
		if err := f.Append(map[string][]byte{"shared": rec(0, goCount)}); err != nil {
			t.Fatal(err)
		}
		goCount++
	}
	if pyErr != nil {
		t.Fatalf("python: %v\n%s", pyErr, stderr.String())
	}
	v, err := f.Get("shared")
	if err != nil {
		t.Fatal(err)
	}
	next := map[int]int{}
	switches := 0
	recs := parseRecs(t, "shared", v[0])
	for i, r := range recs {
		if r[1] != next[r[0]] {
			t.Fatalf("writer %d: record %d where %d was due", r[0], r[1], next[r[0]])
		}
		next[r[0]]++
		if i > 0 && recs[i-1][0] != r[0] {
			switches++
		}
	}
	if next[0] != goCount || next[1] != n {
		t.Fatalf("records: Go %d, Python %d; want %d and %d", next[0], next[1], goCount, n)
	}
	if switches < 10 {
		t.Fatalf("Go and Python appends interleaved only %d times: the test did not overlap them", switches)
	}
}

// Python partd's file names keep letters, digits, "-_.() " and its tuple
// separator: keys made of those are the same files on both sides. Python
// writes keys with spaces, parentheses and tuples that Go lists and reads,
// and Go writes such keys that Python reads.
func TestPythonKeyNamesBothWays(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	python(t, `
import sys, partd
p = partd.File(sys.argv[1])
p.append({'a b': b'1', 'f(x)': b'2', ('df 1', 'col (a)'): b'3', (' lead', 'x'): b'4'})
`, dir)
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := f.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if want := " lead/x|a b|df 1/col (a)|f(x)"; strings.Join(keys, "|") != want {
		t.Fatalf("Keys() of Python's store = %q, want %q", strings.Join(keys, "|"), want)
	}
	vals, err := f.Get("a b", "f(x)", "df 1/col (a)", " lead/x")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.Join(vals, []byte(","))); got != "1,2,3,4" {
		t.Fatalf("Go read %q from Python's keys, want 1,2,3,4", got)
	}
	if err := f.Append(map[string][]byte{"go key (1)": []byte("g1"), partd.Key("t u", "v(w)"): []byte("g2")}); err != nil {
		t.Fatal(err)
	}
	got := python(t, `
import sys, partd
p = partd.File(sys.argv[1])
a, b = p.get(['go key (1)', ('t u', 'v(w)')])
print(a.decode(), b.decode())
`, dir)
	if got != "g1 g2\n" {
		t.Fatalf("Python read %q from Go's keys, want %q", got, "g1 g2\n")
	}
}
