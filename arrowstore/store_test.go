package arrowstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
	"github.com/gopartd/partd/encode"
	"github.com/gopartd/partd/partdtest"
)

// A Store is a typed store of the encode family: slices of batches by key.
var _ encode.Store[[]arrow.RecordBatch] = (*Store)(nil)

// TestConformance runs partd's typed-store conformance suite over the
// layer on every inner store: each element is a batch of one row whose id
// the suite chose.
func TestConformance(t *testing.T) {
	for _, in := range inners {
		t.Run(in.name, func(t *testing.T) {
			partdtest.RunSlices(t, partdtest.Slices[arrow.RecordBatch]{
				Open: func(t *testing.T) partdtest.SliceStore[arrow.RecordBatch] {
					s, err := New(in.open(t))
					must(t, err)
					return s
				},
				Make: func(id int) arrow.RecordBatch { return ids(memory.DefaultAllocator, int64(id)) },
				ID:   func(r arrow.RecordBatch) int { return int(r.Column(0).(*array.Int64).Value(0)) },
			})
		})
	}
}

// TestRoundTrip appends batches of every column type, with NULLs, in
// several Appends of several batches, and reads them back with Get,
// Reader and Table, for each compression, over every inner store, with
// a checked allocator.
func TestRoundTrip(t *testing.T) {
	for _, in := range inners {
		for _, c := range []Compression{Uncompressed, LZ4Frame, Zstd} {
			t.Run(in.name+"/"+c.String(), func(t *testing.T) {
				mem := checked(t)
				s := newStore(t, in.open(t), WithAllocator(mem), WithCompression(c))
				var want []arrow.RecordBatch
				defer func() { releaseAll(want) }()
				row := 0
				for _, sizes := range [][]int{{1}, {5, 0, 17}, {100}, {3, 3}} {
					var recs []arrow.RecordBatch
					for _, n := range sizes {
						r := allTypesBatch(t, mem, row, n)
						row += n
						recs = append(recs, r)
						if n > 0 {
							want = append(want, r)
						} else {
							defer r.Release()
						}
					}
					must(t, s.Append(map[string][]arrow.RecordBatch{"df/part-1": recs, "other": recs[:1]}))
				}
				got, err := s.Get("df/part-1", "missing")
				must(t, err)
				wantBatches(t, "Get", got[0], want)
				if len(got[1]) != 0 {
					t.Fatalf("missing key: %d batches", len(got[1]))
				}
				releaseAll(got[0])

				r, err := s.Reader("missing", "df/part-1", "other")
				must(t, err)
				if !r.Schema().Equal(allTypes) {
					t.Fatalf("Reader schema %s", r.Schema())
				}
				var read []arrow.RecordBatch
				for r.Next() {
					rec := r.RecordBatch()
					rec.Retain()
					read = append(read, rec)
				}
				must(t, r.Err())
				r.Release()
				wantBatches(t, "Reader", read[:len(want)], want)
				if len(read) != len(want)+4 {
					t.Fatalf("Reader read %d batches, want %d", len(read), len(want)+4)
				}
				releaseAll(read)

				tbl, err := s.Table("df/part-1")
				must(t, err)
				if tbl.NumRows() != int64(row) || tbl.NumCols() != int64(allTypes.NumFields()) {
					t.Fatalf("Table: %d rows, %d columns", tbl.NumRows(), tbl.NumCols())
				}
				tbl.Release()
			})
		}
	}
}

// TestKeyIsConcatenatedStreams reads a key's bytes with arrow-go's plain
// IPC stream reader, stream after stream, as any Arrow reader would.
func TestKeyIsConcatenatedStreams(t *testing.T) {
	d := partd.NewDict()
	s := newStore(t, d)
	a, b, c := ids(memory.DefaultAllocator, 1, 2), ids(memory.DefaultAllocator, 3), ids(memory.DefaultAllocator, 4, 5, 6)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {a, b}}))
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {c}}))
	raw, err := d.Get("k")
	must(t, err)
	br := bytes.NewReader(raw[0])
	var got []int64
	streams := 0
	for br.Len() > 0 {
		rd, err := ipc.NewReader(br)
		must(t, err)
		streams++
		for rd.Next() {
			got = append(got, rd.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
		}
		must(t, rd.Err())
		rd.Release()
	}
	if streams != 2 || !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("%d streams holding %v", streams, got)
	}
}

// TestReadsForeignStreams reads streams that arrow-go's writer wrote
// straight into the inner store, one of them with a dictionary delta.
func TestReadsForeignStreams(t *testing.T) {
	mem := checked(t)
	d := partd.NewDict()
	s := newStore(t, d, WithAllocator(mem))
	var buf bytes.Buffer
	want := []arrow.RecordBatch{allTypesBatch(t, mem, 0, 10), allTypesBatch(t, mem, 10, 20)}
	defer releaseAll(want)
	for _, r := range want {
		w := ipc.NewWriter(&buf, ipc.WithSchema(allTypes), ipc.WithAllocator(mem), ipc.WithDictionaryDeltas(true))
		must(t, w.Write(r))
		must(t, w.Write(r))
		must(t, w.Close())
	}
	must(t, d.Set("k", buf.Bytes()))
	got, err := s.Get("k")
	must(t, err)
	defer releaseAll(got[0])
	wantBatches(t, "Get", got[0], []arrow.RecordBatch{want[0], want[0], want[1], want[1]})
}

// TestZeroCopy checks that an uncompressed batch read back aliases the
// bytes of the inner Get rather than the allocator's memory.
func TestZeroCopy(t *testing.T) {
	mem := checked(t)
	s := newStore(t, partd.NewDict(), WithAllocator(mem))
	r := ids(mem, 1, 2, 3)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {r}}))
	r.Release()
	got, err := s.Get("k")
	must(t, err)
	if n := mem.CurrentAlloc(); n != 0 {
		t.Fatalf("reading allocated %d bytes", n)
	}
	// The batch outlives the Store and the key.
	must(t, s.Delete("k"))
	must(t, s.Close())
	if v := idsOf(got[0]); !slices.Equal(v, []int64{1, 2, 3}) {
		t.Fatalf("got %v", v)
	}
	releaseAll(got[0])
}

func TestSchemaMismatchWritesNothing(t *testing.T) {
	strSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	strs := func() arrow.RecordBatch {
		rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, strSchema, bytes.NewReader([]byte(`[{"id": "x"}]`)))
		must(t, err)
		return rec
	}
	for _, in := range inners {
		t.Run(in.name, func(t *testing.T) {
			inner := in.open(t)
			s := newStore(t, inner)
			must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 1)}}))
			before, err := inner.Get("k")
			must(t, err)

			// Against the schema this Store wrote.
			err = s.Append(map[string][]arrow.RecordBatch{"k": {strs()}, "fresh": {ids(memory.DefaultAllocator, 2)}})
			wantErr(t, "append utf8 to int64", err, ErrSchema, `"k"`, "id int64", "id utf8")
			// Within one call.
			err = s.Append(map[string][]arrow.RecordBatch{"new": {ids(memory.DefaultAllocator, 2), strs()}})
			wantErr(t, "two schemas in one call", err, ErrSchema, `"new"`, "id int64", "id utf8")
			// Against the schema a fresh Store finds in the inner store.
			s2, err := New(inner)
			must(t, err)
			err = s2.Append(map[string][]arrow.RecordBatch{"fresh": {ids(memory.DefaultAllocator, 2)}, "k": {strs()}})
			wantErr(t, "fresh Store", err, ErrSchema, `"k"`, "id int64", "id utf8")

			keys, err := s.Keys()
			must(t, err)
			if !slices.Equal(keys, []string{"k"}) {
				t.Fatalf("keys after refused appends: %q", keys)
			}
			after, err := inner.Get("k")
			must(t, err)
			if !bytes.Equal(before[0], after[0]) {
				t.Fatal("a refused append changed the key")
			}
			// A key that was deleted or set takes a new schema.
			must(t, s.Delete("k"))
			must(t, s.Append(map[string][]arrow.RecordBatch{"k": {strs()}}))
			must(t, s.Set("k", []arrow.RecordBatch{ids(memory.DefaultAllocator, 7)}))
			must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 8)}}))
			got, err := s.Get("k")
			must(t, err)
			if v := idsOf(got[0]); !slices.Equal(v, []int64{7, 8}) {
				t.Fatalf("after Set and Append: %v", v)
			}
			must(t, s.Drop())
			must(t, s.Append(map[string][]arrow.RecordBatch{"k": {strs()}}))
		})
	}
}

func TestWithSchema(t *testing.T) {
	s := newStore(t, partd.NewDict(), WithSchema(idSchema))
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.Append(1)
	col := b.NewArray()
	rec := array.NewRecordBatch(other, []arrow.Array{col}, 1)
	wantErr(t, "nullable id", s.Append(map[string][]arrow.RecordBatch{"k": {rec}}), ErrSchema, "id int64 not null", "id int64")
	wantErr(t, "Set", s.Set("k", []arrow.RecordBatch{rec}), ErrSchema)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 1)}}))
	r, err := s.Reader("nothing")
	must(t, err)
	if !r.Schema().Equal(idSchema) || r.Next() {
		t.Fatalf("reader of an empty key: schema %s", r.Schema())
	}
	r.Release()
	tbl, err := s.Table("nothing")
	must(t, err)
	if !tbl.Schema().Equal(idSchema) || tbl.NumRows() != 0 {
		t.Fatal("table of an empty key")
	}
	tbl.Release()
}

func TestReaderSchemaAcrossKeys(t *testing.T) {
	d := partd.NewDict()
	s := newStore(t, d)
	strSchema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, strSchema, bytes.NewReader([]byte(`[{"s": "x"}]`)))
	must(t, err)
	must(t, s.Append(map[string][]arrow.RecordBatch{"a": {ids(memory.DefaultAllocator, 1)}, "b": {rec}}))
	r, err := s.Reader("a", "b")
	must(t, err)
	defer r.Release()
	if !r.Next() {
		t.Fatal(r.Err())
	}
	if r.Next() {
		t.Fatal("read a batch of another schema")
	}
	wantErr(t, "reader over two schemas", r.Err(), ErrSchema, `"b"`)
	// A stream of another schema inside one key.
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(strSchema))
	must(t, w.Write(rec))
	must(t, w.Close())
	must(t, d.Append(map[string][]byte{"a": buf.Bytes()}))
	_, err = s.Get("a")
	wantErr(t, "key of two schemas", err, ErrSchema, `"a"`, "stream 1")
}

// TestReaderStreams checks that a Reader holds one key at a time and
// releases what it read.
func TestReaderStreams(t *testing.T) {
	mem := checked(t)
	s := newStore(t, partd.NewDict(), WithAllocator(mem), WithCompression(Zstd))
	for i := range 10 {
		r := ids(mem, int64(i))
		must(t, s.Append(map[string][]arrow.RecordBatch{"a": {r}, "b": {r}}))
		r.Release()
	}
	r, err := s.Reader("a", "b", "a")
	must(t, err)
	var got []int64
	for r.Next() {
		got = append(got, idsOf([]arrow.RecordBatch{r.RecordBatch()})...)
		if len(got) == 15 {
			break // stop half way: Release frees the rest
		}
	}
	must(t, r.Err())
	r.Release()
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("read %v", got)
	}
}

func TestCloseKeepsBatches(t *testing.T) {
	s, err := New(partd.NewDict())
	must(t, err)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 1)}}))
	got, err := s.Get("k")
	must(t, err)
	must(t, s.Close())
	must(t, s.Close())
	for name, err := range map[string]error{
		"Append": s.Append(nil), "Set": s.Set("k", nil), "Delete": s.Delete("k"), "Drop": s.Drop(), "Flush": s.Flush(),
	} {
		wantErr(t, name, err, partd.ErrClosed)
	}
	_, err = s.Reader("k")
	wantErr(t, "Reader", err, partd.ErrClosed)
	_, err = s.Pop("k")
	wantErr(t, "Pop", err, partd.ErrClosed)
	if v := idsOf(got[0]); !slices.Equal(v, []int64{1}) {
		t.Fatal(v)
	}
}

func TestPop(t *testing.T) {
	for _, in := range inners {
		t.Run(in.name, func(t *testing.T) {
			s := newStore(t, in.open(t))
			must(t, s.Append(map[string][]arrow.RecordBatch{"a": {ids(memory.DefaultAllocator, 1, 2)}, "b": {ids(memory.DefaultAllocator, 3)}}))
			got, err := s.Pop("a", "c")
			must(t, err)
			if v := idsOf(got[0]); !slices.Equal(v, []int64{1, 2}) || len(got[1]) != 0 {
				t.Fatalf("Pop: %v, %d", v, len(got[1]))
			}
			keys, err := s.Keys()
			must(t, err)
			if !slices.Equal(keys, []string{"b"}) {
				t.Fatalf("keys after Pop: %q", keys)
			}
			// A popped key takes any schema.
			strSchema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
			rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, strSchema, bytes.NewReader([]byte(`[{"s": "x"}]`)))
			must(t, err)
			must(t, s.Append(map[string][]arrow.RecordBatch{"a": {rec}}))
		})
	}
}

func TestOptions(t *testing.T) {
	for _, opt := range []Option{WithAllocator(nil), WithCompression(7), WithSchema(nil), WithDecodeLimit(0)} {
		if _, err := New(partd.NewDict(), opt); err == nil {
			t.Error("a bad option was accepted")
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) was accepted")
	}
	if Compression(9).String() != "Compression(9)" {
		t.Error(Compression(9).String())
	}
}

// TestNilBatch refuses a nil batch in place of a batch.
func TestNilBatch(t *testing.T) {
	s := newStore(t, partd.NewDict())
	if err := s.Append(map[string][]arrow.RecordBatch{"k": {nil}}); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("nil batch: %v", err)
	}
}

// TestConcurrentSchemaClaim appends two schemas to new keys from many
// goroutines at once: for each key one schema wins, every Append of the
// other fails with ErrSchema, and the key reads back whole.
func TestConcurrentSchemaClaim(t *testing.T) {
	strSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	str, _, err := array.RecordFromJSON(memory.DefaultAllocator, strSchema, bytes.NewReader([]byte(`[{"id": "x"}]`)))
	must(t, err)
	num := ids(memory.DefaultAllocator, 1)
	for _, in := range inners[:3] {
		t.Run(in.name, func(t *testing.T) {
			s := newStore(t, in.open(t))
			const writers, rounds = 8, 20
			errs := make(chan error, writers*rounds)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					rec := num
					if w%2 == 1 {
						rec = str
					}
					for r := range rounds {
						errs <- s.Append(map[string][]arrow.RecordBatch{fmt.Sprintf("k%d", r): {rec}})
					}
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err != nil {
					wantErr(t, "racing append", err, ErrSchema)
					failed++
				}
			}
			total := 0
			for r := range rounds {
				got, err := s.Get(fmt.Sprintf("k%d", r))
				must(t, err)
				total += len(got[0])
				if len(got[0]) != writers/2 {
					t.Errorf("key k%d holds %d batches, want %d", r, len(got[0]), writers/2)
				}
			}
			if failed != writers*rounds/2 || total != writers*rounds/2 {
				t.Fatalf("%d appends failed, %d batches stored", failed, total)
			}
		})
	}
}

// TestFlush forwards Flush to a Buffer, which moves everything to its
// slow store.
func TestFlush(t *testing.T) {
	slow := partd.NewDict()
	s := newStore(t, partd.NewBuffer(partd.NewDict(), slow, 1<<30))
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 1)}}))
	must(t, s.Flush())
	if keys, _ := slow.Keys(); !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("slow store keys after Flush: %q", keys)
	}
}

// TestEmptyBatches: batches without rows are not written, a key given only
// such batches is not created, and their schema is still checked.
func TestEmptyBatches(t *testing.T) {
	d := partd.NewDict()
	s := newStore(t, d)
	empty := ids(memory.DefaultAllocator)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {empty, empty}}))
	if keys, _ := d.Keys(); len(keys) != 0 {
		t.Fatalf("empty batches created keys %q", keys)
	}
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {empty, ids(memory.DefaultAllocator, 5), empty}}))
	got, err := s.Get("k")
	must(t, err)
	if len(got[0]) != 1 || got[0][0].NumRows() != 1 {
		t.Fatalf("read %d batches", len(got[0]))
	}
	strSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	strEmpty, _, err := array.RecordFromJSON(memory.DefaultAllocator, strSchema, bytes.NewReader([]byte(`[]`)))
	must(t, err)
	wantErr(t, "empty batch of another schema", s.Append(map[string][]arrow.RecordBatch{"j": {ids(memory.DefaultAllocator, 1), strEmpty}}), ErrSchema)
	must(t, s.Set("k", []arrow.RecordBatch{empty}))
	if keys, _ := d.Keys(); len(keys) != 0 {
		t.Fatalf("Set of an empty batch left keys %q", keys)
	}
}

// TestPooledReadsKeepRetainedBatches keeps batches read from pooled
// buffers while many other reads go through the pool: they must not
// change. With WithReadPool(false), the same holds of course.
func TestPooledReadsKeepRetainedBatches(t *testing.T) {
	for _, pool := range []bool{true, false} {
		t.Run(fmt.Sprint("pool=", pool), func(t *testing.T) {
			mem := checked(t)
			s := newStore(t, newLog(t), WithAllocator(mem), WithReadPool(pool))
			want := allTypesBatch(t, mem, 0, 50)
			defer want.Release()
			for i := range 8 {
				must(t, s.Append(map[string][]arrow.RecordBatch{fmt.Sprint("k", i): {want}}))
			}
			kb, err := s.fetch([]string{"k0"})
			must(t, err)
			if pooled := kb[0].free != nil; pooled != pool {
				t.Fatalf("read into a pooled buffer: %v", pooled)
			}
			kb[0].buf.Release()
			kept, err := s.Get("k0")
			must(t, err)
			r, err := s.Reader("k1")
			must(t, err)
			if !r.Next() {
				t.Fatal(r.Err())
			}
			held := r.RecordBatch()
			held.Retain()
			r.Release()
			for i := range 200 {
				got, err := s.Get(fmt.Sprint("k", 2+i%6))
				must(t, err)
				wantBatches(t, "read", got[0], []arrow.RecordBatch{want})
				releaseAll(got[0])
			}
			wantBatches(t, "kept from Get", kept[0], []arrow.RecordBatch{want})
			wantBatches(t, "retained from a Reader", []arrow.RecordBatch{held}, []arrow.RecordBatch{want})
			releaseAll(kept[0])
			held.Release()
		})
	}
}
