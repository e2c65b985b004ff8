package encode

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/partdtest"
)

// suite is the typed twin of partdtest for layers whose values are
// slices of E. mk maps an id to a distinct element and id maps it back.
type suite[E any] struct {
	open func(t *testing.T) Store[[]E]
	mk   func(i int) E
	id   func(e E) int
	// nests is set for Columns, whose table keys may nest: tables "x" and
	// "x/y" write disjoint inner keys (x/.schema, x/v … and x/y/.schema,
	// x/y/v …), so the x-and-x/y conflict checks do not apply.
	nests bool
}

// runSuite runs the typed conformance suite.
func runSuite[E any](t *testing.T, s suite[E]) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st Store[[]E])
	}{
		{"AppendGetOrder", s.testOrder},
		{"MultiKeyGet", s.testMultiKey},
		{"UnknownKeyEmpty", s.testUnknown},
		{"EmptyValueCreatesNothing", s.testEmpty},
		{"SetReplaces", s.testSet},
		{"Delete", s.testDelete},
		{"KeysSorted", s.testKeys},
		{"InvalidKeyRejectsWholeBatch", s.testInvalid},
		{"DropLeavesUsableStore", s.testDrop},
		{"NotAliased", s.testNotAliased},
		{"ConcurrentHistory", s.testConcurrent},
		{"CloseThenErrClosed", s.testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := s.open(t)
			t.Cleanup(func() { st.Close() })
			tc.fn(t, st)
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// vals returns the elements with ids lo..hi-1.
func (s suite[E]) vals(lo, hi int) []E {
	out := make([]E, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.mk(i))
	}
	return out
}

func (s suite[E]) ids(v []E) []int {
	out := make([]int, len(v))
	for i, e := range v {
		out[i] = s.id(e)
	}
	return out
}

func (s suite[E]) get1(t testing.TB, st Store[[]E], key string) []E {
	t.Helper()
	vs, err := st.Get(key)
	must(t, err)
	if len(vs) != 1 {
		t.Fatalf("Get(%q) returned %d values, want 1", key, len(vs))
	}
	return vs[0]
}

func (s suite[E]) want(t testing.TB, st Store[[]E], key string, want []E) {
	t.Helper()
	got := s.get1(t, st, key)
	if g, w := s.ids(got), s.ids(want); !slices.Equal(g, w) {
		t.Fatalf("Get(%q) = %v, want %v", key, trimInts(g), trimInts(w))
	}
}

func trimInts(v []int) string {
	if len(v) > 20 {
		return fmt.Sprintf("%v…(%d)", v[:20], len(v))
	}
	return fmt.Sprint(v)
}

func wantKeys[T any](t testing.TB, st Store[T], want ...string) {
	t.Helper()
	got, err := st.Keys()
	must(t, err)
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("Keys() = %q, want %q", got, want)
	}
}

func (s suite[E]) testOrder(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"x": s.vals(0, 3), "y": s.vals(100, 101)}))
	must(t, st.Append(map[string][]E{"x": s.vals(3, 5), "y": s.vals(101, 104)}))
	s.want(t, st, "x", s.vals(0, 5))
	s.want(t, st, "y", s.vals(100, 104))
	for i := range 50 {
		must(t, st.Append(map[string][]E{"seq": s.vals(i, i+1)}))
	}
	s.want(t, st, "seq", s.vals(0, 50))
}

func (s suite[E]) testMultiKey(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(1, 2), "b": s.vals(2, 4), "c/d": s.vals(4, 7)}))
	got, err := st.Get("c/d", "missing", "a", "b", "a")
	must(t, err)
	want := [][]E{s.vals(4, 7), nil, s.vals(1, 2), s.vals(2, 4), s.vals(1, 2)}
	if len(got) != len(want) {
		t.Fatalf("Get returned %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(s.ids(got[i]), s.ids(want[i])) {
			t.Errorf("value %d = %v, want %v", i, s.ids(got[i]), s.ids(want[i]))
		}
	}
	got, err = st.Get()
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("Get() returned %d values", len(got))
	}
}

func (s suite[E]) testUnknown(t *testing.T, st Store[[]E]) {
	if got := s.get1(t, st, "nothing-here"); len(got) != 0 {
		t.Fatalf("unknown key returned %d elements", len(got))
	}
	if got := s.get1(t, st, "no/such/tuple"); len(got) != 0 {
		t.Fatalf("unknown tuple key returned %d elements", len(got))
	}
	wantKeys(t, st)
}

func (s suite[E]) testEmpty(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"e": nil, "f": {}}))
	wantKeys(t, st)
	must(t, st.Append(map[string][]E{"e": s.vals(0, 1), "f": {}}))
	must(t, st.Append(map[string][]E{"e": {}}))
	s.want(t, st, "e", s.vals(0, 1))
	wantKeys(t, st, "e")
}

func (s suite[E]) testSet(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"k": s.vals(0, 10)}))
	must(t, st.Set("k", s.vals(20, 22)))
	s.want(t, st, "k", s.vals(20, 22))
	must(t, st.Append(map[string][]E{"k": s.vals(22, 23)}))
	s.want(t, st, "k", s.vals(20, 23))
	must(t, st.Set("fresh/key", s.vals(5, 6)))
	s.want(t, st, "fresh/key", s.vals(5, 6))
	must(t, st.Set("k", nil))
	s.want(t, st, "k", nil)
	wantKeys(t, st, "fresh/key")
	if err := st.Set("bad/../key", s.vals(0, 1)); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set with invalid key: err = %v, want ErrInvalidKey", err)
	}
}

func (s suite[E]) testDelete(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(1, 2), "b": s.vals(2, 3), "t/u": s.vals(3, 4)}))
	must(t, st.Delete("a", "never-existed", "t/u"))
	s.want(t, st, "a", nil)
	s.want(t, st, "b", s.vals(2, 3))
	wantKeys(t, st, "b")
	must(t, st.Append(map[string][]E{"t": s.vals(7, 9), "a": s.vals(9, 10)}))
	s.want(t, st, "t", s.vals(7, 9))
	s.want(t, st, "a", s.vals(9, 10))
	must(t, st.Delete())
}

var typedKeys = []string{"plain", "with space", "bang!", "ünïcödé", "a", ".hidden", "CASE", "case", "tuple/part", "tuple/pärt two", "x-1", "x_1"}

func (s suite[E]) testKeys(t *testing.T, st Store[[]E]) {
	batch := make(map[string][]E)
	for i, k := range typedKeys {
		batch[k] = s.vals(i, i+1)
	}
	must(t, st.Append(batch))
	want := slices.Clone(typedKeys)
	slices.Sort(want)
	wantKeys(t, st, want...)
	got, err := st.Get(typedKeys...)
	must(t, err)
	for i, k := range typedKeys {
		if ids := s.ids(got[i]); len(ids) != 1 || ids[0] != i {
			t.Errorf("Get(%q) = %v, want [%d]", k, ids, i)
		}
	}
}

func (s suite[E]) testInvalid(t *testing.T, st Store[[]E]) {
	for _, bad := range []string{"", "/", "a/", "a//b", ".", "..", "a/..", "nul\x00byte", "\xff", strings.Repeat("k", 256)} {
		err := st.Append(map[string][]E{"good1": s.vals(0, 1), bad: s.vals(1, 2), "good2": s.vals(2, 3)})
		if !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("Append with key %q: err = %v, want ErrInvalidKey", bad, err)
		}
	}
	if s.nests {
		return
	}
	must(t, st.Append(map[string][]E{"x": s.vals(0, 1)}))
	if err := st.Append(map[string][]E{"x/y": s.vals(0, 1), "other": s.vals(0, 1)}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("x then x/y: err = %v, want ErrInvalidKey", err)
	}
	must(t, st.Append(map[string][]E{"p/q/r": s.vals(1, 2)}))
	for _, k := range []string{"p", "p/q", "p/q/r/s"} {
		if err := st.Append(map[string][]E{k: s.vals(2, 3), "other": s.vals(3, 4)}); !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("p/q/r then %s: err = %v, want ErrInvalidKey", k, err)
		}
		if err := st.Set(k, s.vals(2, 3)); !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("p/q/r then Set(%s): err = %v, want ErrInvalidKey", k, err)
		}
	}
	if err := st.Append(map[string][]E{"m": s.vals(0, 1), "m/n": s.vals(0, 1)}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("m and m/n in one batch: err = %v, want ErrInvalidKey", err)
	}
	wantKeys(t, st, "p/q/r", "x")
	s.want(t, st, "p/q/r", s.vals(1, 2))
}

func (s suite[E]) testDrop(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(0, 1), "b/c": s.vals(1, 2)}))
	must(t, st.Drop())
	wantKeys(t, st)
	s.want(t, st, "a", nil)
	must(t, st.Append(map[string][]E{"a": s.vals(3, 4), "b": s.vals(4, 5)}))
	s.want(t, st, "a", s.vals(3, 4))
	s.want(t, st, "b", s.vals(4, 5))
	must(t, st.Drop())
	must(t, st.Drop())
	wantKeys(t, st)
}

func (s suite[E]) testNotAliased(t *testing.T, st Store[[]E]) {
	in := s.vals(0, 3)
	must(t, st.Append(map[string][]E{"k": in}))
	in[0] = s.mk(99)
	s.want(t, st, "k", s.vals(0, 3))
	set := s.vals(5, 6)
	must(t, st.Set("s", set))
	set[0] = s.mk(99)
	s.want(t, st, "s", s.vals(5, 6))
	out := s.get1(t, st, "k")
	for i := range out {
		out[i] = s.mk(98)
	}
	_ = append(out[:cap(out)], s.mk(97))
	s.want(t, st, "k", s.vals(0, 3))
	a := s.get1(t, st, "k")
	must(t, st.Append(map[string][]E{"k": s.vals(3, 4)}))
	if !slices.Equal(s.ids(a), []int{0, 1, 2}) {
		t.Fatalf("a later Append changed an earlier Get's result to %v", s.ids(a))
	}
	// Two results of one Get must not share memory either.
	both, err := st.Get("k", "k")
	must(t, err)
	both[0][0] = s.mk(96)
	if s.id(both[1][0]) != 0 {
		t.Fatal("two results of one Get share memory")
	}
}

func (s suite[E]) testConcurrent(t *testing.T, st Store[[]E]) {
	writers, rounds := 8, 100
	if raceEnabled {
		writers, rounds = 4, 40
	}
	partdtest.History[[]E]{
		Append: st.Append,
		Get:    st.Get,
		Record: func(w, seq int) []E { return []E{s.mk(w*1000 + seq)} },
		Records: func(v []E) ([][2]int, error) {
			out := make([][2]int, len(v))
			for i, e := range v {
				out[i] = [2]int{s.id(e) / 1000, s.id(e) % 1000}
			}
			return out, nil
		},
	}.Run(t, writers, rounds)
}

func (s suite[E]) testClose(t *testing.T, st Store[[]E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(0, 1)}))
	must(t, st.Close())
	checks := map[string]error{
		"Append": st.Append(map[string][]E{"a": s.vals(1, 2)}),
		"Set":    st.Set("a", s.vals(1, 2)),
		"Delete": st.Delete("a"),
		"Drop":   st.Drop(),
	}
	_, checks["Get"] = st.Get("a")
	_, checks["Keys"] = st.Keys()
	for name, err := range checks {
		if !errors.Is(err, partd.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// jsonCodec is a custom Codec: a JSON array per frame.
type jsonCodec[E any] struct{}

func (jsonCodec[E]) Encode(v []E) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return json.Marshal(v)
}

func (jsonCodec[E]) Decode(b []byte) ([]E, error) {
	var v []E
	err := json.Unmarshal(b, &v)
	return v, err
}

func (jsonCodec[E]) Join(parts [][]E) []E { return joinSlices(parts) }

// Row is a struct element for Msgpack tests.
type Row struct {
	ID    int64    `msgpack:"id"`
	Name  string   `msgpack:"name"`
	Score float64  `msgpack:"score"`
	Tags  []string `msgpack:"tags"`
	Blob  []byte   `msgpack:"blob"`
	OK    bool     `msgpack:"ok"`
}

func mkRow(i int) Row {
	return Row{ID: int64(i), Name: "row-" + strconv.Itoa(i), Score: float64(i) / 4, Tags: []string{"t", strconv.Itoa(i % 7)}, Blob: []byte{byte(i), 0, 0xff}, OK: i%2 == 0}
}

// stores are the inner stores each suite runs over.
var stores = []struct {
	name string
	open func(t *testing.T) partd.Store
}{
	{"Dict", func(t *testing.T) partd.Store { return partd.NewDict() }},
	{"Buffer", func(t *testing.T) partd.Store { return partd.NewBuffer(partd.NewDict(), partd.NewDict(), 256) }},
	{"File", func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		must(t, err)
		return f
	}},
}

// onFileToo are the suites that run over File as well as Dict and Buffer;
// the others differ from them only in element type, which File never sees.
var onFileToo = map[string]bool{"Msgpack[Row]": true, "Msgpack[any]": true, "Numeric[int64]": true, "Columns": true, "Custom[json]": true}

func TestConformance(t *testing.T) {
	for _, in := range stores {
		t.Run(in.name, func(t *testing.T) {
			run := t.Run
			if in.name == "File" {
				run = func(name string, f func(t *testing.T)) bool {
					if !onFileToo[name] {
						return true
					}
					return t.Run(name, f)
				}
			}
			run("Msgpack[int64]", func(t *testing.T) {
				runSuite(t, suite[int64]{
					open: func(t *testing.T) Store[[]int64] { return Msgpack[int64](in.open(t)) },
					mk:   func(i int) int64 { return int64(i)*1_000_003 - 5 },
					id:   func(e int64) int { return int((e + 5) / 1_000_003) },
				})
			})
			run("Msgpack[string]", func(t *testing.T) {
				runSuite(t, suite[string]{
					open: func(t *testing.T) Store[[]string] { return Msgpack[string](in.open(t)) },
					mk:   func(i int) string { return "v" + strconv.Itoa(i) },
					id:   func(e string) int { n, _ := strconv.Atoi(e[1:]); return n },
				})
			})
			run("Msgpack[Row]", func(t *testing.T) {
				runSuite(t, suite[Row]{
					open: func(t *testing.T) Store[[]Row] { return Msgpack[Row](in.open(t)) },
					mk:   mkRow,
					id:   func(r Row) int { return int(r.ID) },
				})
			})
			run("Msgpack[any]", func(t *testing.T) {
				runSuite(t, suite[any]{
					open: func(t *testing.T) Store[[]any] { return Msgpack[any](in.open(t)) },
					mk:   func(i int) any { return map[string]any{"id": int64(i), "b": []byte("x")} },
					id:   func(e any) int { return int(e.(map[string]any)["id"].(int64)) },
				})
			})
			run("Numeric[int64]", func(t *testing.T) {
				runSuite(t, suite[int64]{
					open: func(t *testing.T) Store[[]int64] { return Numeric[int64](in.open(t)) },
					mk:   func(i int) int64 { return int64(i) << 20 },
					id:   func(e int64) int { return int(e >> 20) },
				})
			})
			run("Numeric[float64]", func(t *testing.T) {
				runSuite(t, suite[float64]{
					open: func(t *testing.T) Store[[]float64] { return Numeric[float64](in.open(t)) },
					mk:   func(i int) float64 { return float64(i) + 0.5 },
					id:   func(e float64) int { return int(e) },
				})
			})
			run("Numeric[int16]", func(t *testing.T) {
				runSuite(t, suite[int16]{
					open: func(t *testing.T) Store[[]int16] { return Numeric[int16](in.open(t)) },
					mk:   func(i int) int16 { return int16(i) },
					id:   func(e int16) int { return int(e) },
				})
			})
			run("Columns", func(t *testing.T) {
				runSuite(t, suite[int64]{
					open:  func(t *testing.T) Store[[]int64] { return oneColumn{NewColumns(in.open(t))} },
					mk:    func(i int) int64 { return int64(i) },
					id:    func(e int64) int { return int(e) },
					nests: true,
				})
			})
			run("Custom[json]", func(t *testing.T) {
				runSuite(t, suite[int]{
					open: func(t *testing.T) Store[[]int] { return New[[]int](in.open(t), jsonCodec[int]{}) },
					mk:   func(i int) int { return i },
					id:   func(e int) int { return e },
				})
			})
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// oneColumn presents Columns as a Store of []int64: each value is a table
// with one int64 column "v" (and a float64 copy "f", so that every append
// writes two columns).
type oneColumn struct{ c *Columns }

func oneTable(v []int64) Table {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return Table{Columns: []Column{{"v", v}, {"f", f}}}
}

func (o oneColumn) Append(data map[string][]int64) error {
	tables := make(map[string]Table, len(data))
	for k, v := range data {
		tables[k] = oneTable(v)
	}
	return o.c.Append(tables)
}

func (o oneColumn) Get(keys ...string) ([][]int64, error) {
	tables, err := o.c.Get(keys...)
	if err != nil {
		return nil, err
	}
	out := make([][]int64, len(tables))
	for i, t := range tables {
		if v, ok := t.Column("v"); ok {
			out[i] = v.([]int64)
		}
		if f, ok := t.Column("f"); ok && len(f.([]float64)) != len(out[i]) {
			return nil, fmt.Errorf("columns of %q differ in length", keys[i])
		}
	}
	return out, nil
}

func (o oneColumn) Set(key string, v []int64) error { return o.c.Set(key, oneTable(v)) }
func (o oneColumn) Delete(keys ...string) error     { return o.c.Delete(keys...) }
func (o oneColumn) Keys() ([]string, error)         { return o.c.Keys() }
func (o oneColumn) Drop() error                     { return o.c.Drop() }
func (o oneColumn) Close() error                    { return o.c.Close() }
