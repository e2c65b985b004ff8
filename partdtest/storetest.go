// Package partdtest is the conformance suite every partd.Store passes: the
// write policies, the compression layers and the network client. A store
// written in another module runs the same checks:
//
//   - Run, with a function that returns a new, empty store: the contract
//     of partd.Store, the key rules, concurrent appends (History), the
//     capability interfaces the store implements and the helpers that
//     stand in for the ones it does not (Sizes, KeysPrefix, KeysPage, All
//     and Pop among them; a Popper's Pop must be atomic);
//   - RunSlices, the same checks for a typed store whose values are slices
//     (the layers of package encode);
//   - RunReopen, for a persistent store: what was acknowledged survives
//     Close and a new open of the same directory;
//   - RunTornTail, for a persistent store and a hook that tears its last
//     write as a crash would: it opens, earlier batches are whole, the torn
//     one is whole or absent (or, for a store that is not crash-atomic, a
//     prefix);
//   - RunProcesses, for a store many processes share: copies of the test
//     binary (routed by Main from TestMain) append at once, and every
//     record must be there once, in its writer's order.
//
// Package server/servertest starts a real server over a store, for testing
// stores and layers across the network.
package partdtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// Run runs the whole conformance suite. open returns a new, empty store; Run
// closes it when each subtest ends.
func Run(t *testing.T, open func(t *testing.T) partd.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s partd.Store)
	}{
		{"AppendGetOrder", testAppendGetOrder},
		{"MultiKeyGet", testMultiKeyGet},
		{"UnknownKeyEmpty", testUnknownKeyEmpty},
		{"EmptyValueCreatesNothing", testEmptyValue},
		{"SetReplaces", testSet},
		{"Delete", testDelete},
		{"KeysSortedAndLossless", testKeys},
		{"InvalidKeyRejectsWholeBatch", testInvalidBatch},
		{"TupleKeyConflict", testConflict},
		{"DropLeavesUsableStore", testDrop},
		{"NotAliased", testNotAliased},
		{"LargeValue", testLargeValue},
		{"ConcurrentHistory", testConcurrentHistory},
		{"CloseThenErrClosed", testClose},
		{"Capabilities", testCapabilities},
		{"Sizes", testSizes},
		{"KeysPrefix", testKeysPrefix},
		{"Pop", testPop},
		{"PopConcurrent", testPopConcurrent},
		{"Reader", testReader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// Must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get1(t testing.TB, s partd.Store, key string) []byte {
	t.Helper()
	vs, err := s.Get(key)
	must(t, err)
	if len(vs) != 1 {
		t.Fatalf("Get(%q) returned %d values, want 1", key, len(vs))
	}
	return vs[0]
}

func wantBytes(t testing.TB, s partd.Store, key, want string) {
	t.Helper()
	if got := get1(t, s, key); string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, trim(got), trim([]byte(want)))
	}
}

func trim(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q…(%d bytes)", b[:80], len(b))
	}
	return string(b)
}

func wantKeys(t testing.TB, s partd.Store, want ...string) {
	t.Helper()
	got, err := s.Keys()
	must(t, err)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys() = %q, want %q", got, want)
	}
}

func testAppendGetOrder(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"x": []byte("Hello "), "y": []byte("123")}))
	must(t, s.Append(map[string][]byte{"x": []byte("world!"), "y": []byte("456")}))
	wantBytes(t, s, "x", "Hello world!")
	wantBytes(t, s, "y", "123456")
	for i := range 50 {
		must(t, s.Append(map[string][]byte{"seq": fmt.Appendf(nil, "%03d,", i)}))
	}
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "%03d,", i)
	}
	wantBytes(t, s, "seq", want.String())
}

func testMultiKeyGet(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("1"), "b": []byte("22"), "c/d": []byte("333")}))
	got, err := s.Get("c/d", "missing", "a", "b", "a")
	must(t, err)
	want := []string{"333", "", "1", "22", "1"}
	if len(got) != len(want) {
		t.Fatalf("Get returned %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("value %d = %q, want %q", i, got[i], want[i])
		}
	}
	got, err = s.Get()
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("Get() returned %d values, want 0", len(got))
	}
}

func testUnknownKeyEmpty(t *testing.T, s partd.Store) {
	if got := get1(t, s, "nothing-here"); len(got) != 0 {
		t.Fatalf("unknown key returned %q", got)
	}
	if got := get1(t, s, "no/such/tuple"); len(got) != 0 {
		t.Fatalf("unknown tuple key returned %q", got)
	}
	wantKeys(t, s)
}

func testEmptyValue(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"e": nil, "f": {}}))
	wantKeys(t, s)
	must(t, s.Append(map[string][]byte{"e": []byte("x"), "f": {}}))
	must(t, s.Append(map[string][]byte{"e": {}}))
	wantBytes(t, s, "e", "x")
	wantKeys(t, s, "e")
}

func testSet(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"k": []byte("old old old")}))
	must(t, s.Set("k", []byte("new")))
	wantBytes(t, s, "k", "new")
	must(t, s.Append(map[string][]byte{"k": []byte("+more")}))
	wantBytes(t, s, "k", "new+more")
	must(t, s.Set("fresh/key", []byte("v")))
	wantBytes(t, s, "fresh/key", "v")
	must(t, s.Set("k", nil))
	wantBytes(t, s, "k", "")
	wantKeys(t, s, "fresh/key")
	if err := s.Set("bad/../key", []byte("v")); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set with invalid key: err = %v, want ErrInvalidKey", err)
	}
}

func testDelete(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "t/u": []byte("3")}))
	must(t, s.Delete("a", "never-existed", "t/u"))
	wantBytes(t, s, "a", "")
	wantBytes(t, s, "b", "2")
	wantKeys(t, s, "b")
	// A deleted tuple key leaves no trace that blocks its parent.
	must(t, s.Append(map[string][]byte{"t": []byte("now a plain key"), "a": []byte("again")}))
	wantBytes(t, s, "t", "now a plain key")
	wantBytes(t, s, "a", "again")
	must(t, s.Delete())
}

// Keys that need escaping on disk, to prove the mapping is lossless.
var oddKeys = []string{
	"plain", "with space", "bang!", "question?", "percent%", "%25", "%", "ünïcödé", "日本語",
	"a!", "a?", "a", ".hidden", ".lock", "..x", "x..", "tab\tkey", "back\\slash", "-dash", "_under",
	"CASE", "case", "tuple/part", "tuple/pärt two", "quote\"'", "semi;colon", "~tilde",
}

func testKeys(t *testing.T, s partd.Store) {
	batch := make(map[string][]byte)
	for i, k := range oddKeys {
		batch[k] = fmt.Appendf(nil, "value-%d", i)
	}
	must(t, s.Append(batch))
	want := slices.Clone(oddKeys)
	slices.Sort(want)
	wantKeys(t, s, want...)
	got, err := s.Get(oddKeys...)
	must(t, err)
	for i, k := range oddKeys {
		if w := fmt.Sprintf("value-%d", i); string(got[i]) != w {
			t.Errorf("Get(%q) = %q, want %q (keys share storage?)", k, got[i], w)
		}
	}
}

var invalidKeys = []string{
	"", "/", "a/", "/a", "a//b", ".", "..", "a/..", "../a", "a/./b", "nul\x00byte", "\xff\xfe",
	strings.Repeat("k", 256), strings.Repeat("a/", 2100) + "a",
}

func testInvalidBatch(t *testing.T, s partd.Store) {
	for _, bad := range invalidKeys {
		err := s.Append(map[string][]byte{"good1": []byte("g"), bad: []byte("b"), "good2": []byte("g")})
		if !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("Append with key %q: err = %v, want ErrInvalidKey", trim([]byte(bad)), err)
		}
	}
	wantKeys(t, s)
}

func testConflict(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"x": []byte("1")}))
	err := s.Append(map[string][]byte{"x/y": []byte("2"), "other": []byte("3")})
	if !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("x then x/y: err = %v, want ErrInvalidKey", err)
	}
	must(t, s.Append(map[string][]byte{"p/q/r": []byte("1")}))
	for _, k := range []string{"p", "p/q", "p/q/r/s"} {
		err = s.Append(map[string][]byte{k: []byte("2"), "other": []byte("3")})
		if !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("p/q/r then %s: err = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Set(k, []byte("2")); !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("p/q/r then Set(%s): err = %v, want ErrInvalidKey", k, err)
		}
	}
	err = s.Append(map[string][]byte{"m": []byte("1"), "m/n": []byte("2")})
	if !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("m and m/n in one batch: err = %v, want ErrInvalidKey", err)
	}
	wantKeys(t, s, "p/q/r", "x")
	wantBytes(t, s, "x", "1")
	wantBytes(t, s, "p/q/r", "1")
}

func testDrop(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("1"), "b/c": []byte("2")}))
	must(t, s.Drop())
	wantKeys(t, s)
	wantBytes(t, s, "a", "")
	must(t, s.Append(map[string][]byte{"a": []byte("after"), "b": []byte("drop")}))
	wantBytes(t, s, "a", "after")
	wantBytes(t, s, "b", "drop")
	must(t, s.Drop())
	must(t, s.Drop())
	wantKeys(t, s)
}

func testNotAliased(t *testing.T, s partd.Store) {
	in := []byte("abc")
	must(t, s.Append(map[string][]byte{"k": in}))
	in[0] = 'X'
	wantBytes(t, s, "k", "abc")
	set := []byte("set")
	must(t, s.Set("s", set))
	set[0] = 'X'
	wantBytes(t, s, "s", "set")
	out := get1(t, s, "k")
	for i := range out {
		out[i] = 'Z'
	}
	out = append(out[:cap(out)], 'Z') // writing past len must not reach the store either
	_ = out
	wantBytes(t, s, "k", "abc")
	a := get1(t, s, "k")
	must(t, s.Append(map[string][]byte{"k": []byte("def")}))
	if string(a) != "abc" {
		t.Fatalf("a later Append changed an earlier Get's result to %q", a)
	}
}

func testLargeValue(t *testing.T, s partd.Store) {
	big := make([]byte, 3<<20+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	must(t, s.Append(map[string][]byte{"big": big[:1<<20]}))
	must(t, s.Append(map[string][]byte{"big": big[1<<20:]}))
	if got := get1(t, s, "big"); !bytes.Equal(got, big) {
		t.Fatalf("large value came back different (%d bytes, want %d)", len(got), len(big))
	}
}

func testConcurrentHistory(t *testing.T, s partd.Store) {
	Bytes(s).Run(t, 8, 150)
}

func testClose(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("1")}))
	must(t, s.Close())
	checks := map[string]error{
		"Append": s.Append(map[string][]byte{"a": []byte("2")}),
		"Set":    s.Set("a", []byte("2")),
		"Delete": s.Delete("a"),
		"Drop":   s.Drop(),
	}
	_, checks["Get"] = s.Get("a")
	_, checks["Keys"] = s.Keys()
	for name, err := range checks {
		if !errors.Is(err, partd.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
