package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/errorfs"
	"github.com/gopartd/partd/partdtest"
)

func TestBufferDictFileConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return partd.NewBuffer(partd.NewDict(), f, 100) // tiny limit: spills all the time
	})
}

func TestBufferDictDictConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewDict(), partd.NewDict(), 1000)
	})
}

func TestBufferNoLimitConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewDict(), partd.NewDict(), 1<<40)
	})
}

// peakStore is a real Dict that records the most bytes it ever held.
type peakStore struct {
	*partd.Dict
	peak int64
}

func (p *peakStore) Append(data map[string][]byte) error {
	if err := p.Dict.Append(data); err != nil {
		return err
	}
	p.peak = max(p.peak, p.Dict.Size())
	return nil
}

func TestBufferKeepsOrderAcrossSpills(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fast := &peakStore{Dict: partd.NewDict()}
	const limit = 1000
	b := partd.NewBuffer(fast, f, limit)
	defer b.Close()
	A := bytes.Repeat([]byte("A"), 1500) // over the limit on its own: spills
	B := bytes.Repeat([]byte("B"), 10)
	C := bytes.Repeat([]byte("C"), 10)
	for _, v := range [][]byte{A, B, C} {
		if err := b.Append(map[string][]byte{"k": v, "other": bytes.Repeat([]byte("o"), 300)}); err != nil {
			t.Fatal(err)
		}
		if b.Size() > limit {
			t.Fatalf("fast holds %d bytes after Append, limit %d", b.Size(), limit)
		}
	}
	got, err := b.Get("k")
	if err != nil {
		t.Fatal(err)
	}
	if want := string(A) + string(B) + string(C); string(got[0]) != want {
		t.Fatalf("Get after spill returned %d bytes starting %q, want A…B…C in order", len(got[0]), got[0][:min(len(got[0]), 20)])
	}
	// Many random batches: fast never holds more than limit, even during an
	// Append.
	r := rand.New(rand.NewPCG(1, 1))
	want := map[string][]byte{}
	for range 500 {
		batch := map[string][]byte{}
		var batchBytes int64
		for range r.IntN(5) + 1 {
			k := fmt.Sprintf("r%d", r.IntN(20))
			v := make([]byte, r.IntN(400))
			for i := range v {
				v[i] = byte(r.Uint32())
			}
			batchBytes += int64(len(v)) - int64(len(batch[k]))
			batch[k] = v
		}
		fast.peak = 0
		before := b.Size()
		if err := b.Append(batch); err != nil {
			t.Fatal(err)
		}
		if fast.peak > limit || before > limit {
			t.Fatalf("fast held %d bytes, limit %d (batch %d)", fast.peak, limit, batchBytes)
		}
		for k, v := range batch {
			want[k] = append(want[k], v...)
		}
	}
	for k, v := range want {
		got, err := b.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[0], v) {
			t.Fatalf("key %s: %d bytes, want %d (order lost across spills?)", k, len(got[0]), len(v))
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if b.Size() != 0 {
		t.Fatalf("after Flush fast holds %d bytes", b.Size())
	}
	if ks, _ := fast.Keys(); len(ks) != 0 {
		t.Fatalf("after Flush fast holds keys %q", ks)
	}
}

// Python partd's Buffer loses and duplicates records when flush runs while
// others append; ours must not.
func TestBufferFlushWhileAppending(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := partd.NewBuffer(partd.NewDict(), f, 4096)
	defer b.Close()
	h := partdtest.Bytes(b)
	h.During = func(stop <-chan struct{}) error {
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			if err := b.Flush(); err != nil {
				return err
			}
		}
	}
	h.Run(t, 4, 300)
}

func TestBufferRejectsConflictWithSpilledKey(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := partd.NewBuffer(partd.NewDict(), f, 10)
	defer b.Close()
	if err := b.Append(map[string][]byte{"x": bytes.Repeat([]byte("x"), 100)}); err != nil {
		t.Fatal(err)
	}
	if b.Size() != 0 {
		t.Fatal("x was not spilled")
	}
	// x now lives only in the slow store; x/y must still be refused up front.
	if err := b.Append(map[string][]byte{"x/y": []byte("1")}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("x/y beside spilled x: err = %v, want ErrInvalidKey", err)
	}
}

func TestBufferCloseFlushesToSlow(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := partd.NewBuffer(partd.NewDict(), f, 1<<20)
	if err := b.Append(map[string][]byte{"k": []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "k"))
	if err != nil || string(got) != "kept" {
		t.Fatalf("after Close, dir/k = %q, %v; want the buffered bytes", got, err)
	}
	if err := f.Append(map[string][]byte{"k": []byte("x")}); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("slow store after Buffer.Close: err = %v, want ErrClosed", err)
	}
}

// faultyStore is a real Dict whose writes (Append, Set) or Delete fail while told to, and
// that counts its Closes.
type faultyStore struct {
	*partd.Dict
	failWrite, failDelete bool
	closes                int
}

var errInjected = errors.New("injected fault")

func (f *faultyStore) Append(data map[string][]byte) error {
	if f.failWrite {
		return errInjected
	}
	return f.Dict.Append(data)
}

func (f *faultyStore) Set(key string, value []byte) error {
	if f.failWrite {
		return errInjected
	}
	return f.Dict.Set(key, value)
}

func (f *faultyStore) Delete(keys ...string) error {
	if f.failDelete {
		return errInjected
	}
	return f.Dict.Delete(keys...)
}

func (f *faultyStore) Close() error { f.closes++; return f.Dict.Close() }

// An Append (or Set) whose spill fails returns an error and has written
// nothing, so a retry stores the data once.
func TestBufferFailedSpillWritesNothing(t *testing.T) {
	slow := &faultyStore{Dict: partd.NewDict()}
	b := partd.NewBuffer(partd.NewDict(), slow, 1000)
	defer b.Close()
	v := func(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }
	if err := b.Append(map[string][]byte{"a": v('a', 600)}); err != nil {
		t.Fatal(err)
	}
	slow.failWrite = true
	for name, call := range map[string]func() error{
		"Append small": func() error { return b.Append(map[string][]byte{"b": v('b', 600)}) },
		"Append large": func() error { return b.Append(map[string][]byte{"c": v('c', 5000)}) },
		"Set":          func() error { return b.Set("d", v('d', 600)) },
		"Set large":    func() error { return b.Set("e", v('e', 5000)) },
	} {
		if err := call(); !errors.Is(err, errInjected) {
			t.Fatalf("%s with a failing spill: err = %v, want the injected fault", name, err)
		}
	}
	got, err := b.Get("a", "b", "c", "d", "e")
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != string(v('a', 600)) || len(got[1])+len(got[2])+len(got[3])+len(got[4]) != 0 {
		t.Fatalf("after failed calls: a=%d b=%d c=%d d=%d e=%d bytes, want 600 0 0 0 0", len(got[0]), len(got[1]), len(got[2]), len(got[3]), len(got[4]))
	}
	slow.failWrite = false
	if err := b.Append(map[string][]byte{"b": v('b', 600)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(map[string][]byte{"c": v('c', 5000)}); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Get("a", "b", "c")
	for i, want := range [][]byte{v('a', 600), v('b', 600), v('c', 5000)} {
		if !bytes.Equal(got[i], want) {
			t.Fatalf("key %d after the retry: %d bytes, want %d", i, len(got[i]), len(want))
		}
	}
}

// A Buffer that stopped because its fast store failed to delete spilled keys
// refuses further calls, and its Close still closes both stores.
func TestBufferStoppedBySpillStillClosesStores(t *testing.T) {
	fast := &faultyStore{Dict: partd.NewDict()}
	slow := &faultyStore{Dict: partd.NewDict()}
	b := partd.NewBuffer(fast, slow, 1000)
	if err := b.Append(map[string][]byte{"a": bytes.Repeat([]byte("a"), 900)}); err != nil {
		t.Fatal(err)
	}
	fast.failDelete = true
	if err := b.Append(map[string][]byte{"b": bytes.Repeat([]byte("b"), 900)}); !errors.Is(err, errInjected) {
		t.Fatalf("spill whose Delete fails: err = %v, want the injected fault", err)
	}
	if _, err := b.Get("a"); !errors.Is(err, errInjected) {
		t.Fatalf("Get on a stopped Buffer: err = %v, want the spill's error (it would return a twice)", err)
	}
	if err := b.Close(); err != nil && !errors.Is(err, errInjected) {
		t.Fatal(err)
	}
	if fast.closes != 1 || slow.closes != 1 {
		t.Fatalf("Close of a stopped Buffer closed fast %d and slow %d times, want 1 and 1", fast.closes, slow.closes)
	}
	if _, err := b.Get("a"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Get after Close: err = %v, want ErrClosed", err)
	}
}

// vectorStore is a store from outside the package that implements
// partd.VectorAppender, and counts which path a Buffer's spills take.
type vectorStore struct {
	partd.Store
	appends, vectored int
}

func (v *vectorStore) Append(data map[string][]byte) error {
	v.appends++
	return v.Store.Append(data)
}

func (v *vectorStore) AppendVectors(keys []string, vecs [][][]byte) error {
	v.vectored++
	return partd.AppendVectors(v.Store, keys, vecs)
}

// TestBufferSpillsThroughCapability: any slow store that is a
// VectorAppender gets the Dict's chunks, not a joined copy, without the
// Buffer knowing its type.
func TestBufferSpillsThroughCapability(t *testing.T) {
	slow := &vectorStore{Store: partd.NewDict()}
	b := partd.NewBuffer(partd.NewDict(), slow, 1000)
	defer b.Close()
	for i := range 50 {
		if err := b.Append(map[string][]byte{fmt.Sprint("k", i%7): bytes.Repeat([]byte{byte(i)}, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if slow.vectored == 0 || slow.appends != 0 {
		t.Errorf("spills: %d vectored, %d plain appends; want only vectored", slow.vectored, slow.appends)
	}
	got, err := b.Get("k0")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := 0; i < 50; i += 7 {
		want = append(want, bytes.Repeat([]byte{byte(i)}, 100)...)
	}
	if !bytes.Equal(got[0], want) {
		t.Errorf("k0 after spills: %d bytes, want %d in append order", len(got[0]), len(want))
	}
}

// TestBufferReopen: Close moves what memory holds to the File, so a new
// Buffer over the same directory sees everything.
func TestBufferReopen(t *testing.T) {
	partdtest.RunReopen(t, func(t *testing.T, dir string) partd.Store {
		f, err := partd.NewFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		return partd.NewBuffer(partd.NewDict(), f, 4)
	})
}

// TestBufferFailedSpillKeepsDataOnce: a spill round that writes one key
// and then fails on a full disk leaves the Buffer as it was, so retrying
// the Append after making room stores each value once.
func TestBufferFailedSpillKeepsDataOnce(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	must(t, err)
	inj := &errorfs.Injector{}
	partd.InjectFileFaults(f, inj)
	// Room for one 8 KiB key of a spill round, not for two: the round
	// writes one key and fails on the next.
	inj.FailWritesAfter(12<<10, syscall.ENOSPC)
	b := partd.NewBuffer(partd.NewDict(), f, 1<<10)
	defer b.Close()
	want := map[string][]byte{"x": bytes.Repeat([]byte("x"), 8<<10), "y": bytes.Repeat([]byte("y"), 8<<10)}
	if err := b.Append(want); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("spill onto a full disk: err = %v, want ENOSPC", err)
	}
	// An Append that failed wrote nothing.
	for k := range want {
		if got, err := b.Get(k); err != nil || len(got[0]) != 0 {
			t.Fatalf("%s: %d bytes after a failed Append (%v), want none", k, len(got[0]), err)
		}
	}
	inj.Heal()
	if err := b.Append(want); err != nil {
		t.Fatalf("retry after making room: %v", err)
	}
	for k, v := range want {
		got, err := b.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[0], v) {
			t.Fatalf("%s: %d bytes after the retry, want %d (lost or duplicated)", k, len(got[0]), len(v))
		}
	}
}

func TestBufferDictLogConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewDict(), smallLog(t, t.TempDir()), 100)
	})
}

func TestBufferOffHeapDictLogConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewOffHeapDict(), smallLog(t, t.TempDir()), 300)
	})
}
