package partdtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// SliceStore is a store whose values are slices of E, such as the typed
// layers of package encode (the *encode.Encoded[[]E] of encode.Msgpack,
// the *encode.Array[N] of encode.Numeric): the same contract as
// partd.Store, over typed values.
type SliceStore[E any] interface {
	Append(data map[string][]E) error
	Get(keys ...string) ([][]E, error)
	Set(key string, value []E) error
	Delete(keys ...string) error
	Keys() ([]string, error)
	Drop() error
	Close() error
}

// Slices describes a typed store for RunSlices. Make maps an id (0 to about
// 8,000) to a distinct element and ID maps it back.
type Slices[E any] struct {
	Open func(t *testing.T) SliceStore[E]
	Make func(id int) E
	ID   func(e E) int
	// Nests is set for stores whose keys may nest, as encode.Columns'
	// tables do: tables "x" and "x/y" write disjoint inner keys
	// (x/.schema, x/v … and x/y/.schema, x/y/v …), so the x-and-x/y
	// conflict checks do not apply.
	Nests bool
}

// RunSlices runs the conformance suite over a typed store: the checks Run
// makes of byte stores, with values of E.
func RunSlices[E any](t *testing.T, s Slices[E]) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st SliceStore[E])
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
			st := s.Open(t)
			t.Cleanup(func() { st.Close() })
			tc.fn(t, st)
		})
	}
}

// vals returns the elements with ids lo..hi-1.
func (s Slices[E]) vals(lo, hi int) []E {
	out := make([]E, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.Make(i))
	}
	return out
}

func (s Slices[E]) ids(v []E) []int {
	out := make([]int, len(v))
	for i, e := range v {
		out[i] = s.ID(e)
	}
	return out
}

func (s Slices[E]) get1(t testing.TB, st SliceStore[E], key string) []E {
	t.Helper()
	vs, err := st.Get(key)
	must(t, err)
	if len(vs) != 1 {
		t.Fatalf("Get(%q) returned %d values, want 1", key, len(vs))
	}
	return vs[0]
}

func (s Slices[E]) want(t testing.TB, st SliceStore[E], key string, want []E) {
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

func wantSliceKeys[E any](t testing.TB, st SliceStore[E], want ...string) {
	t.Helper()
	got, err := st.Keys()
	must(t, err)
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("Keys() = %q, want %q", got, want)
	}
}

func (s Slices[E]) testOrder(t *testing.T, st SliceStore[E]) {
	must(t, st.Append(map[string][]E{"x": s.vals(0, 3), "y": s.vals(100, 101)}))
	must(t, st.Append(map[string][]E{"x": s.vals(3, 5), "y": s.vals(101, 104)}))
	s.want(t, st, "x", s.vals(0, 5))
	s.want(t, st, "y", s.vals(100, 104))
	for i := range 50 {
		must(t, st.Append(map[string][]E{"seq": s.vals(i, i+1)}))
	}
	s.want(t, st, "seq", s.vals(0, 50))
}

func (s Slices[E]) testMultiKey(t *testing.T, st SliceStore[E]) {
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

func (s Slices[E]) testUnknown(t *testing.T, st SliceStore[E]) {
	if got := s.get1(t, st, "nothing-here"); len(got) != 0 {
		t.Fatalf("unknown key returned %d elements", len(got))
	}
	if got := s.get1(t, st, "no/such/tuple"); len(got) != 0 {
		t.Fatalf("unknown tuple key returned %d elements", len(got))
	}
	wantSliceKeys(t, st)
}

func (s Slices[E]) testEmpty(t *testing.T, st SliceStore[E]) {
	must(t, st.Append(map[string][]E{"e": nil, "f": {}}))
	wantSliceKeys(t, st)
	must(t, st.Append(map[string][]E{"e": s.vals(0, 1), "f": {}}))
	must(t, st.Append(map[string][]E{"e": {}}))
	s.want(t, st, "e", s.vals(0, 1))
	wantSliceKeys(t, st, "e")
}

func (s Slices[E]) testSet(t *testing.T, st SliceStore[E]) {
	must(t, st.Append(map[string][]E{"k": s.vals(0, 10)}))
	must(t, st.Set("k", s.vals(20, 22)))
	s.want(t, st, "k", s.vals(20, 22))
	must(t, st.Append(map[string][]E{"k": s.vals(22, 23)}))
	s.want(t, st, "k", s.vals(20, 23))
	must(t, st.Set("fresh/key", s.vals(5, 6)))
	s.want(t, st, "fresh/key", s.vals(5, 6))
	must(t, st.Set("k", nil))
	s.want(t, st, "k", nil)
	wantSliceKeys(t, st, "fresh/key")
	if err := st.Set("bad/../key", s.vals(0, 1)); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set with invalid key: err = %v, want ErrInvalidKey", err)
	}
}

func (s Slices[E]) testDelete(t *testing.T, st SliceStore[E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(1, 2), "b": s.vals(2, 3), "t/u": s.vals(3, 4)}))
	must(t, st.Delete("a", "never-existed", "t/u"))
	s.want(t, st, "a", nil)
	s.want(t, st, "b", s.vals(2, 3))
	wantSliceKeys(t, st, "b")
	must(t, st.Append(map[string][]E{"t": s.vals(7, 9), "a": s.vals(9, 10)}))
	s.want(t, st, "t", s.vals(7, 9))
	s.want(t, st, "a", s.vals(9, 10))
	must(t, st.Delete())
}

var typedKeys = []string{"plain", "with space", "bang!", "ünïcödé", "a", ".hidden", "CASE", "case", "tuple/part", "tuple/pärt two", "x-1", "x_1"}

func (s Slices[E]) testKeys(t *testing.T, st SliceStore[E]) {
	batch := make(map[string][]E)
	for i, k := range typedKeys {
		batch[k] = s.vals(i, i+1)
	}
	must(t, st.Append(batch))
	want := slices.Clone(typedKeys)
	slices.Sort(want)
	wantSliceKeys(t, st, want...)
	got, err := st.Get(typedKeys...)
	must(t, err)
	for i, k := range typedKeys {
		if ids := s.ids(got[i]); len(ids) != 1 || ids[0] != i {
			t.Errorf("Get(%q) = %v, want [%d]", k, ids, i)
		}
	}
}

func (s Slices[E]) testInvalid(t *testing.T, st SliceStore[E]) {
	for _, bad := range []string{"", "/", "a/", "a//b", ".", "..", "a/..", "nul\x00byte", "\xff", strings.Repeat("k", 256)} {
		err := st.Append(map[string][]E{"good1": s.vals(0, 1), bad: s.vals(1, 2), "good2": s.vals(2, 3)})
		if !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("Append with key %q: err = %v, want ErrInvalidKey", bad, err)
		}
	}
	if s.Nests {
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
	wantSliceKeys(t, st, "p/q/r", "x")
	s.want(t, st, "p/q/r", s.vals(1, 2))
}

func (s Slices[E]) testDrop(t *testing.T, st SliceStore[E]) {
	must(t, st.Append(map[string][]E{"a": s.vals(0, 1), "b/c": s.vals(1, 2)}))
	must(t, st.Drop())
	wantSliceKeys(t, st)
	s.want(t, st, "a", nil)
	must(t, st.Append(map[string][]E{"a": s.vals(3, 4), "b": s.vals(4, 5)}))
	s.want(t, st, "a", s.vals(3, 4))
	s.want(t, st, "b", s.vals(4, 5))
	must(t, st.Drop())
	must(t, st.Drop())
	wantSliceKeys(t, st)
}

func (s Slices[E]) testNotAliased(t *testing.T, st SliceStore[E]) {
	in := s.vals(0, 3)
	must(t, st.Append(map[string][]E{"k": in}))
	in[0] = s.Make(99)
	s.want(t, st, "k", s.vals(0, 3))
	set := s.vals(5, 6)
	must(t, st.Set("s", set))
	set[0] = s.Make(99)
	s.want(t, st, "s", s.vals(5, 6))
	out := s.get1(t, st, "k")
	for i := range out {
		out[i] = s.Make(98)
	}
	_ = append(out[:cap(out)], s.Make(97))
	s.want(t, st, "k", s.vals(0, 3))
	a := s.get1(t, st, "k")
	must(t, st.Append(map[string][]E{"k": s.vals(3, 4)}))
	if !slices.Equal(s.ids(a), []int{0, 1, 2}) {
		t.Fatalf("a later Append changed an earlier Get's result to %v", s.ids(a))
	}
	// Two results of one Get must not share memory either.
	both, err := st.Get("k", "k")
	must(t, err)
	both[0][0] = s.Make(96)
	if s.ID(both[1][0]) != 0 {
		t.Fatal("two results of one Get share memory")
	}
}

func (s Slices[E]) testConcurrent(t *testing.T, st SliceStore[E]) {
	writers, rounds := 8, 100
	if raceEnabled {
		writers, rounds = 4, 40
	}
	History[[]E]{
		Append: st.Append,
		Get:    st.Get,
		Record: func(w, seq int) []E { return []E{s.Make(w*1000 + seq)} },
		Records: func(v []E) ([][2]int, error) {
			out := make([][2]int, len(v))
			for i, e := range v {
				out[i] = [2]int{s.ID(e) / 1000, s.ID(e) % 1000}
			}
			return out, nil
		},
	}.Run(t, writers, rounds)
}

func (s Slices[E]) testClose(t *testing.T, st SliceStore[E]) {
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
