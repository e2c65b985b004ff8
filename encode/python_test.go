package encode

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// The interop tests run testdata/interop.py with the system Python and its
// partd 1.3 (Debian python3-partd). CI installs them: a missing python3 or
// partd fails these tests; it never skips them.
const python = "/usr/bin/python3"

func runPython(t *testing.T, mode, dir string) {
	t.Helper()
	out, err := exec.Command(python, "testdata/interop.py", mode, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%s testdata/interop.py %s: %v\n%s", python, mode, err, out)
	}
}

func openFile(t *testing.T, dir string) *partd.File {
	t.Helper()
	f, err := partd.NewFile(dir)
	must(t, err)
	return f
}

var bigBytes = func() []byte {
	b := make([]byte, 0, 256*300)
	for range 300 {
		for i := range 256 {
			b = append(b, byte(i))
		}
	}
	return b
}()

func i64(v ...int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// pyValues mirrors VALUES in testdata/interop.py as Msgpack[any] decodes
// it: each key's appends.
var pyValues = map[string][][]any{
	"ints": {
		i64(0, 1, -1, 127, 128, 255, 256, -32, -33, -128, -129, 65535, 65536),
		append(i64(1<<31-1, -1<<31, 1<<32, -1<<31-1, math.MaxInt64, math.MinInt64), uint64(math.MaxUint64)),
	},
	"floats": {{0.0, -1.5, 1e300, -2.5e-300, math.Inf(1), math.Inf(-1)}, {3.25}},
	"strs":   {{"", "a", "héllo", "日本語", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 300)}, {"\x00nul"}},
	"bytes":  {{[]byte{}, []byte{0, 0xff}, []byte("abc"), bigBytes}, {[]byte("tail")}},
	"bools":  {{true, false}, {false}},
	"nil":    {{nil, nil}, {nil}},
	"nested": {
		{[]any{int64(1), []any{int64(2), []any{int64(3), []any{}}}}, []any{}, []any{"x", []byte("y"), nil}},
		{[]any{[]any{[]any{[]any{}}}}},
	},
	"maps": {
		{map[string]any{"a": int64(1), "b": []any{int64(1), "x"}, "c": map[string]any{"d": nil, "e": 2.5}}},
		{map[string]any{}, map[string]any{"k": []byte("v")}},
	},
	"mixed":  {{int64(1), "a", []byte("b"), 2.5, true, nil, []any{int64(1)}, map[string]any{"k": "v"}}, {int64(-7)}},
	"tup/le": {i64(1, 2), i64(3)},
}

func concatAny(parts [][]any) []any {
	var out []any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// typed converts []any to []E for the keys read through typed layers.
func typed[E any](v []any) []E {
	out := make([]E, len(v))
	for i, x := range v {
		out[i] = x.(E)
	}
	return out
}

func TestPythonWritesMsgpackGoReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runPython(t, "msgpack-write", dir)
	m := Msgpack[any](openFile(t, dir))
	defer m.Close()
	for k, parts := range pyValues {
		got, err := m.Get(k)
		must(t, err)
		if want := concatAny(parts); !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s:\n got %#v\nwant %#v", k, trunc(got[0]), trunc(want))
		}
	}
	// Typed layers read the same bytes.
	checkTyped(t, Msgpack[float64](openFile(t, dir)), "floats")
	checkTyped(t, Msgpack[string](openFile(t, dir)), "strs")
	checkTyped(t, Msgpack[[]byte](openFile(t, dir)), "bytes")
	checkTyped(t, Msgpack[bool](openFile(t, dir)), "bools")

	// A value msgpack cannot hold was pickled by Python: an error, never run.
	_, err := m.Get("pickled")
	if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), `"pickled"`) {
		t.Fatalf("reading a pickle frame: err = %v, want ErrCorrupt naming the key", err)
	}
}

func checkTyped[E any](t *testing.T, m *Encoded[[]E], key string) {
	t.Helper()
	defer m.Close()
	got, err := m.Get(key)
	must(t, err)
	if want := typed[E](concatAny(pyValues[key])); !reflect.DeepEqual(got[0], want) {
		t.Errorf("Msgpack[%T] %s = %v, want %v", *new(E), key, got[0], want)
	}
}

func trunc(v []any) []any {
	out := make([]any, len(v))
	for i, x := range v {
		if b, ok := x.([]byte); ok && len(b) > 16 {
			x = append(b[:16:16], "…"...)
		}
		out[i] = x
	}
	return out
}

func TestGoWritesMsgpackPythonReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openFile(t, dir)
	m := Msgpack[any](f)
	typedKeys := map[string]bool{"floats": true, "strs": true, "bytes": true, "bools": true}
	for k, parts := range pyValues {
		if typedKeys[k] {
			continue
		}
		for _, p := range parts {
			must(t, m.Append(map[string][]any{k: p}))
		}
	}
	appendTyped[float64](t, New(f, Codec[[]float64](MsgpackCodec[float64]{})), "floats")
	appendTyped[string](t, New(f, Codec[[]string](MsgpackCodec[string]{})), "strs")
	appendTyped[[]byte](t, New(f, Codec[[][]byte](MsgpackCodec[[]byte]{})), "bytes")
	appendTyped[bool](t, New(f, Codec[[]bool](MsgpackCodec[bool]{})), "bools")
	must(t, m.Close())
	runPython(t, "msgpack-read", dir)
}

func appendTyped[E any](t *testing.T, m *Encoded[[]E], key string) {
	t.Helper()
	for _, p := range pyValues[key] {
		must(t, m.Append(map[string][]E{key: typed[E](p)}))
	}
}

// numpyExpected mirrors numpy_expected in testdata/interop.py.
func numpyExpected[N Number]() []N {
	out := make([]N, 1000)
	var zero N
	_, isFloat := any(zero).(float32)
	if _, ok := any(zero).(float64); ok {
		isFloat = true
	}
	for i := range out {
		if isFloat {
			out[i] = N(float64(i)*0.25 - 3)
		} else {
			out[i] = N(int64(i)*37 - 500)
		}
	}
	return out
}

func checkNumeric[N Number](t *testing.T, f partd.Store, key string) {
	t.Helper()
	got, err := Numeric[N](f).Get(key)
	must(t, err)
	if want := numpyExpected[N](); !reflect.DeepEqual(got[0], want) {
		t.Errorf("Numeric[%T] %s: got %v…, want %v…", *new(N), key, got[0][:min(5, len(got[0]))], want[:5])
	}
}

func TestPythonWritesNumpyGoReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runPython(t, "numpy-write", dir)
	f := openFile(t, dir)
	defer f.Close()
	checkNumeric[int8](t, f, "i1")
	checkNumeric[uint8](t, f, "u1")
	checkNumeric[int16](t, f, "i2")
	checkNumeric[uint16](t, f, "u2")
	checkNumeric[int32](t, f, "i4")
	checkNumeric[uint32](t, f, "u4")
	checkNumeric[int64](t, f, "i8")
	checkNumeric[uint64](t, f, "u8")
	checkNumeric[float32](t, f, "f4")
	checkNumeric[float64](t, f, "f8")
	checkNumeric[float64](t, f, "sub/f8")

	// partd.Numpy would reinterpret float bytes as ints; we refuse.
	ints := Numeric[int64](f)
	if err := ints.Append(map[string][]int64{"mix": {1}}); !errors.Is(err, ErrSchema) {
		t.Fatalf("appending int64 to a <f8 key: err = %v, want ErrSchema", err)
	}
	if _, err := ints.Get("mix"); !errors.Is(err, ErrSchema) {
		t.Fatalf("reading a <f8 key as int64: err = %v, want ErrSchema", err)
	}
	checkNumeric[float64](t, f, "mix")
}

func appendNumeric[N Number](t *testing.T, f partd.Store, key string) {
	t.Helper()
	a := numpyExpected[N]()
	n := Numeric[N](f)
	must(t, n.Append(map[string][]N{key: a[:600]}))
	must(t, n.Append(map[string][]N{key: a[600:]}))
}

func TestGoWritesNumpyPythonReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openFile(t, dir)
	appendNumeric[int8](t, f, "i1")
	appendNumeric[uint8](t, f, "u1")
	appendNumeric[int16](t, f, "i2")
	appendNumeric[uint16](t, f, "u2")
	appendNumeric[int32](t, f, "i4")
	appendNumeric[uint32](t, f, "u4")
	appendNumeric[int64](t, f, "i8")
	appendNumeric[uint64](t, f, "u8")
	appendNumeric[float32](t, f, "f4")
	appendNumeric[float64](t, f, "f8")
	appendNumeric[float64](t, f, "sub/f8")
	must(t, f.Close())
	runPython(t, "numpy-read", dir)
}

func TestGoWritesColumnsPythonReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := NewColumns(openFile(t, dir))
	const n = 500
	tab := func(lo, hi int) Table {
		id := make([]int64, 0, hi-lo)
		x := make([]float64, 0, hi-lo)
		small := make([]uint8, 0, hi-lo)
		name := make([]string, 0, hi-lo)
		blob := make([][]byte, 0, hi-lo)
		for j := lo; j < hi; j++ {
			id = append(id, int64(j))
			x = append(x, float64(j)/8)
			small = append(small, uint8(j%256))
			name = append(name, "name-"+itoa(j))
			blob = append(blob, bytes.Repeat([]byte{byte(j % 256)}, j%5))
		}
		return Table{Columns: []Column{{"id", id}, {"x", x}, {"small", small}, {"name", name}, {"blob", blob}}}
	}
	must(t, c.Append(map[string]Table{"df": tab(0, 123)}))
	must(t, c.Append(map[string]Table{"df": tab(123, n)}))
	got, err := c.Get("df")
	must(t, err)
	if want := tab(0, n); !reflect.DeepEqual(got[0], want) {
		t.Fatalf("Go reads back a different table")
	}
	must(t, c.Close())
	runPython(t, "columns-read", dir)
}

func TestPythonAvailable(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is required (CI installs python3-partd): %v", python, err)
	}
	out, err := exec.Command(python, "-c", "import partd, msgpack, numpy; print(partd.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("python3 with partd, msgpack and numpy is required: %v\n%s", err, out)
	}
}
