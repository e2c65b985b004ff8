package partdtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gopartd/partd"
)

// testCapabilities checks the optional interfaces a store implements
// against what its plain methods say, and the fallbacks of the helpers for
// the ones it does not.
func testCapabilities(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("hello, "), "t/x": []byte("tuple")}))

	// AppendVectors, native or joined: pieces land in order, as one value.
	must(t, partd.AppendVectors(s, []string{"a", "b", "c"}, [][][]byte{
		{[]byte("wor"), []byte("ld")}, {[]byte("b1")}, nil,
	}))
	wantBytes(t, s, "a", "hello, world")
	wantBytes(t, s, "b", "b1")
	wantBytes(t, s, "c", "")
	if err := partd.AppendVectors(s, []string{"d", "d"}, [][][]byte{{[]byte("1")}, {[]byte("2")}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("AppendVectors with a repeated key: %v, want ErrInvalidKey", err)
	}
	if err := partd.AppendVectors(s, []string{"d", "t"}, [][][]byte{{[]byte("1")}, {[]byte("2")}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("AppendVectors onto a tuple parent: %v, want ErrInvalidKey", err)
	}
	if err := partd.AppendVectors(s, []string{"d"}, nil); err == nil {
		t.Errorf("AppendVectors with 1 key and 0 values: no error")
	}
	wantBytes(t, s, "d", "") // the rejected batches wrote nothing

	checkGetAppend(t, s)

	// ViewChunks shows what Get returns.
	want, err := s.Get("a", "nope", "t/x")
	must(t, err)
	must(t, partd.ViewChunks(s, []string{"a", "nope", "t/x"}, func(chunks [][][]byte) error {
		if len(chunks) != 3 {
			t.Fatalf("ViewChunks gave %d keys, want 3", len(chunks))
		}
		for i, c := range chunks {
			if j := bytes.Join(c, nil); !bytes.Equal(j, want[i]) {
				t.Errorf("ViewChunks key %d = %q, Get says %q", i, j, want[i])
			}
		}
		return nil
	}))

	// Flush keeps every byte where Get finds it.
	must(t, partd.Flush(s))
	wantBytes(t, s, "a", "hello, world")
	if n, ok := partd.Size(s); ok && n < 0 {
		t.Errorf("Size = %d", n)
	}
}

// checkGetAppend checks partd.GetAppend (a store's own, or the fallback)
// on the keys testCapabilities stored: "a" holds "hello, world", "b" "b1".
func checkGetAppend(t *testing.T, s partd.Store) {
	// GetAppend appends after what dst holds, leaves unknown keys alone.
	dst := [][]byte{[]byte(">"), nil, make([]byte, 0, 64)}
	got, err := partd.GetAppend(s, dst, "a", "nope", "b")
	must(t, err)
	if len(got) != 3 || string(got[0]) != ">hello, world" || got[1] != nil || string(got[2]) != "b1" {
		t.Errorf("GetAppend = %q, want [\">hello, world\" nil \"b1\"]", got)
	}
	if _, err := partd.GetAppend(s, make([][]byte, 1), "a", "b"); err == nil {
		t.Errorf("GetAppend with 1 buffer for 2 keys: no error")
	}
	if ga, ok := s.(partd.GetAppender); ok {
		// A buffer with room is filled in place.
		buf := make([]byte, 0, 64)
		got, err := ga.GetAppend([][]byte{buf}, "a")
		must(t, err)
		if &got[0][:1][0] != &buf[:1][0] {
			t.Errorf("GetAppend into a buffer with room allocated a new one")
		}
		// One that must grow keeps its spare capacity.
		small := make([]byte, 1, 4)
		got, err = ga.GetAppend([][]byte{small}, "a")
		must(t, err)
		if spare := cap(got[0]) - len(got[0]); string(got[0][1:]) != "hello, world" || spare < 3 {
			t.Errorf("GetAppend grew to %q with %d spare bytes, want the key's bytes and >= 3 spare", got[0], spare)
		}
	}
}

// testSizes checks partd.Sizes (a store's own Sizes, or the fallback)
// against Get, and a KeySizer's Sizes directly.
func testSizes(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("12345"), "df/p1": []byte("x"), "odd key:é": bytes.Repeat([]byte("z"), 70000)}))
	must(t, s.Append(map[string][]byte{"a": []byte("678")}))
	must(t, s.Set("set", []byte("replaced")))
	must(t, s.Set("set", []byte("new")))
	must(t, s.Append(map[string][]byte{"gone": []byte("bytes")}))
	must(t, s.Delete("gone"))
	keys := []string{"a", "missing", "df", "df/p1", "odd key:é", "set", "gone", "a"}
	want := []int64{8, 0, 0, 1, 70000, 3, 0, 8}
	check := func(name string, got []int64, err error) {
		t.Helper()
		must(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("%s(%q) = %v, want %v", name, keys, got, want)
		}
	}
	got, err := partd.Sizes(s, keys...)
	check("Sizes", got, err)
	vals, err := s.Get(keys...)
	must(t, err)
	for i, v := range vals {
		if int64(len(v)) != want[i] {
			t.Errorf("Get(%q) has %d bytes, Sizes says %d", keys[i], len(v), want[i])
		}
	}
	if ks, ok := s.(partd.KeySizer); ok {
		got, err := ks.Sizes(keys...)
		if !errors.Is(err, errors.ErrUnsupported) {
			check("native Sizes", got, err)
		}
	}
	if got, err := partd.Sizes(s); err != nil || len(got) != 0 {
		t.Errorf("Sizes() = %v, %v; want no sizes", got, err)
	}
}

// testKeysPrefix checks partd.KeysPrefix, partd.KeysPage and partd.All
// against Keys filtered by prefix, with keys whose names a File escapes.
func testKeysPrefix(t *testing.T, s partd.Store) {
	stored := []string{
		"df/p1", "df/p2", "df/p10", "df/sub/q", "df/x:1", "df/.h", "df/é", "df/a b",
		"dfx", "d", "other", "%odd/k", "z/y/x/w",
	}
	batch := make(map[string][]byte)
	for _, k := range stored {
		batch[k] = []byte(k)
	}
	must(t, s.Append(batch))
	must(t, s.Append(map[string][]byte{"deleted/k": []byte("x"), "df/empty": nil}))
	must(t, s.Delete("deleted/k"))
	all, err := s.Keys()
	must(t, err)
	for _, prefix := range []string{
		"", "df/", "df", "d", "df/p", "df/p1", "df/sub", "df/sub/", "df/x", "df/x:", "df/.",
		"df/\xc3", "df/é", "df/a ", "%", "%odd/", "z/y/", "zz", "/", "df//", "a/../", "df/sub/q/",
		"deleted/", "deleted", "df/empty",
	} {
		want := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return !strings.HasPrefix(k, prefix) })
		checkListings(t, s, prefix, want)
	}
	if got, err := partd.KeysPage(s, "df/", "df/p10", 2); err != nil || !slices.Equal(got, []string{"df/p2", "df/sub/q"}) {
		t.Errorf(`KeysPage("df/", "df/p10", 2) = %q, %v`, got, err)
	}
	if _, err := partd.KeysPage(s, "", "", 0); err == nil {
		t.Errorf("KeysPage with limit 0: no error")
	}
	testPopDuringAll(t, s, all)
}

// checkListings checks that KeysPrefix, pages of 3 from every start, and
// All list the keys of s with prefix as want.
func checkListings(t *testing.T, s partd.Store, prefix string, want []string) {
	t.Helper()
	got, err := partd.KeysPrefix(s, prefix)
	must(t, err)
	if !slices.Equal(nonNil(got), nonNil(want)) {
		t.Errorf("KeysPrefix(%q) = %q, want %q", prefix, got, want)
	}
	var paged []string
	after := ""
	for {
		page, err := partd.KeysPage(s, prefix, after, 3)
		must(t, err)
		if len(page) > 3 || !slices.IsSorted(page) {
			t.Fatalf("KeysPage(%q, %q, 3) = %q", prefix, after, page)
		}
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(nonNil(paged), nonNil(want)) {
		t.Errorf("KeysPage(%q, ...) pages = %q, want %q", prefix, paged, want)
	}
	var walked []string
	for k, err := range partd.All(s, prefix) {
		must(t, err)
		walked = append(walked, k)
	}
	if !slices.Equal(nonNil(walked), nonNil(want)) {
		t.Errorf("All(%q) = %q, want %q", prefix, walked, want)
	}
}

// testPopDuringAll checks an iteration that stops early, and one that pops
// every key it is given; all are the keys of s.
func testPopDuringAll(t *testing.T, s partd.Store, all []string) {
	for range partd.All(s, "") {
		break
	}
	var popped []string
	for k, err := range partd.All(s, "df/") {
		must(t, err)
		vals, err := partd.Pop(s, k)
		must(t, err)
		if string(vals[0]) != k {
			t.Errorf("Pop(%q) during All = %q", k, vals[0])
		}
		popped = append(popped, k)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return !strings.HasPrefix(k, "df/") })
	if !slices.Equal(popped, want) {
		t.Errorf("All(\"df/\") while popping = %q, want %q", popped, want)
	}
	if left, err := partd.KeysPrefix(s, "df"); err != nil || !slices.Equal(left, []string{"dfx"}) {
		t.Errorf(`KeysPrefix("df") after popping df/ = %q, %v`, left, err)
	}
}

func nonNil(keys []string) []string {
	if keys == nil {
		return []string{}
	}
	return keys
}

// testPop checks partd.Pop: it returns what Get did and the keys are gone.
func testPop(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"p/1": []byte("one"), "p/2": []byte("two"), "q": []byte("q")}))
	must(t, s.Append(map[string][]byte{"p/1": []byte("+more")}))
	vals, err := partd.Pop(s, "p/1", "missing", "p/2")
	must(t, err)
	if len(vals) != 3 || string(vals[0]) != "one+more" || vals[1] != nil || string(vals[2]) != "two" {
		t.Fatalf("Pop = %q, want [\"one+more\" nil \"two\"]", vals)
	}
	wantKeys(t, s, "q")
	wantBytes(t, s, "p/1", "")
	// A popped key starts afresh, and its parent is free again.
	must(t, s.Append(map[string][]byte{"p/1": []byte("again")}))
	wantBytes(t, s, "p/1", "again")
	_, err = partd.Pop(s, "p/1")
	must(t, err)
	must(t, s.Set("p", []byte("parent")))
	wantBytes(t, s, "p", "parent")
	if vals, err := partd.Pop(s); err != nil || len(vals) != 0 {
		t.Errorf("Pop() = %q, %v; want no values", vals, err)
	}
	if vals, err := partd.Pop(s, "never"); err != nil || len(vals) != 1 || vals[0] != nil {
		t.Errorf("Pop(never) = %q, %v; want [nil]", vals, err)
	}
	big := bytes.Repeat([]byte("0123456789"), 100000)
	must(t, s.Append(map[string][]byte{"big": big}))
	vals, err = partd.Pop(s, "big")
	must(t, err)
	if !bytes.Equal(vals[0], big) {
		t.Errorf("Pop(big) returned %d bytes, want %d", len(vals[0]), len(big))
	}
	wantKeys(t, s, "p", "q")
}

// testPopConcurrent checks that a store's own Pop is atomic: while
// goroutines append numbered values to one key, pops of it return every
// value exactly once, in each goroutine's order, and none is lost between
// a pop's read and its delete. (partd.Pop's fallback for stores without
// Pop is not atomic, so only Poppers are checked.)
func testPopConcurrent(t *testing.T, s partd.Store) {
	if _, ok := s.(partd.Popper); !ok {
		t.Skip("not a partd.Popper")
	}
	writers, perWriter := 4, 150
	if raceEnabled {
		perWriter = 60
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Append(map[string][]byte{"hot": fmt.Appendf(nil, "%d:%d;", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var got []byte
	popErr := make(chan error, 1)
	go func() {
		defer close(popErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			vals, err := partd.Pop(s, "hot")
			if err != nil {
				popErr <- err
				return
			}
			got = append(got, vals[0]...)
		}
	}()
	wg.Wait()
	close(done)
	if err := <-popErr; err != nil {
		t.Fatal(err)
	}
	vals, err := partd.Pop(s, "hot")
	must(t, err)
	checkPopped(t, append(got, vals[0]...), writers, perWriter)
	wantKeys(t, s)
}

// checkPopped checks that got, the values popped from a key that writers
// goroutines appended perWriter values "w:i;" to, holds each value once,
// each writer's in order.
func checkPopped(t *testing.T, got []byte, writers, perWriter int) {
	t.Helper()
	next := make([]int, writers)
	for item := range strings.SplitSeq(strings.TrimSuffix(string(got), ";"), ";") {
		if item == "" && len(got) == 0 {
			break
		}
		var w, i int
		if _, err := fmt.Sscanf(item, "%d:%d", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("popped a torn or foreign value %q", item)
		}
		if i != next[w] {
			t.Fatalf("writer %d: popped value %d, want %d (lost or repeated by a pop)", w, i, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != perWriter {
			t.Errorf("writer %d: popped %d values, want %d", w, n, perWriter)
		}
	}
}
