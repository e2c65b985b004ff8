package arrowstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
)

// touch reads every value of rec (of its first rows, for long ones), as a
// caller would: after the decoder's checks, none of it may panic.
func touch(rec arrow.RecordBatch) {
	for _, col := range rec.Columns() {
		n := min(col.Len(), 4096)
		for i := range n {
			_ = col.IsNull(i)
			_ = col.ValueStr(i)
		}
		if col.Len() > n {
			_ = col.ValueStr(col.Len() - 1)
		}
	}
}

// seedKeys returns keys as the layer writes them: several streams of
// every type, compressed or not, and streams with dictionary deltas as
// arrow-go's writer writes them.
func seedKeys(t testing.TB) [][]byte {
	var out [][]byte
	mem := memory.NewGoAllocator()
	for _, c := range []Compression{Uncompressed, LZ4Frame, Zstd} {
		d := partd.NewDict()
		s, err := New(d, WithCompression(c))
		must(t, err)
		for i, n := range []int{1, 3} {
			r := allTypesBatch(t, mem, i*10, n)
			must(t, s.Append(map[string][]arrow.RecordBatch{"k": {r, r}}))
		}
		raw, err := d.Get("k")
		must(t, err)
		out = append(out, raw[0])
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(allTypes), ipc.WithDictionaryDeltas(true))
	must(t, w.Write(allTypesBatch(t, mem, 0, 3)))
	must(t, w.Write(allTypesBatch(t, mem, 3, 5)))
	must(t, w.Close())
	out = append(out, buf.Bytes())
	small := partd.NewDict()
	s, err := New(small)
	must(t, err)
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(mem, 1, 2, 3)}}))
	must(t, s.Append(map[string][]arrow.RecordBatch{"k": {ids(mem, 4)}}))
	raw, err := small.Get("k")
	must(t, err)
	return append(out, raw[0])
}

// decodeAny decodes data as a key's bytes through Get, a Reader and an
// Append (which reads the key's schema), and fails the test on a panic,
// an error that is not ErrCorrupt (or ErrSchema, for streams whose schemas
// a change made differ), and memory left allocated by Get or Append. (A
// Reader that fails may leave what arrow-go leaked allocated: see
// Store.Reader.)
func decodeAny(t *testing.T, data []byte) {
	d := partd.NewDict()
	must(t, d.Set("k", data))
	open := func() (*Store, *memory.CheckedAllocator) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		s, err := New(d, WithAllocator(mem), WithDecodeLimit(16<<20))
		must(t, err)
		return s, mem
	}
	ok := func(what string, err error, mem *memory.CheckedAllocator) {
		t.Helper()
		if err != nil && !errors.Is(err, partd.ErrCorrupt) && !errors.Is(err, ErrSchema) {
			t.Fatalf("%s: %v", what, err)
		}
		if mem != nil && mem.CurrentAlloc() != 0 {
			t.Fatalf("%s (err %v): %d bytes left allocated", what, err, mem.CurrentAlloc())
		}
	}
	s, mem := open()
	got, err := s.Get("k")
	if err == nil {
		for _, r := range got[0] {
			touch(r)
			r.Release()
		}
	}
	ok("Get", err, mem)

	s, _ = open()
	r, err := s.Reader("k")
	ok("Reader", err, nil)
	if err == nil {
		for r.Next() {
			touch(r.RecordBatch())
		}
		ok("Reader.Next", r.Err(), nil)
		r.Release()
	}

	s, mem = open()
	rec := ids(mem, 1)
	err = s.Append(map[string][]arrow.RecordBatch{"k": {rec}})
	rec.Release()
	ok("Append", err, mem)
}

func FuzzDecode(f *testing.F) {
	for _, k := range seedKeys(f) {
		f.Add(k)
	}
	f.Add([]byte{})
	f.Add([]byte("not an arrow stream at all"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 1, 2, 3})
	f.Fuzz(decodeAny)
}

// TestCorruptTruncated cuts a key's bytes at every length: each prefix
// reads as whole streams or is ErrCorrupt.
func TestCorruptTruncated(t *testing.T) {
	cuts := 400
	if raceEnabled || testing.Short() {
		cuts = 60
	}
	for _, key := range seedKeys(t) {
		step := max(1, len(key)/cuts)
		for n := 0; n < len(key); n += step {
			decodeAny(t, key[:n])
		}
		// Cut inside a stream: never valid.
		d := partd.NewDict()
		must(t, d.Set("k", key[:len(key)-3]))
		s, err := New(d)
		must(t, err)
		_, err = s.Get("k")
		wantErr(t, "truncated", err, partd.ErrCorrupt, `"k"`)
	}
}

// TestCorruptFlips flips bytes all over keys, and every bit of their first
// bytes (the schema message): whatever it does, it is a clean error or
// readable batches.
func TestCorruptFlips(t *testing.T) {
	flips, head := 300, 160
	if raceEnabled || testing.Short() {
		flips, head = 40, 24
	}
	for _, key := range seedKeys(t) {
		step := max(1, len(key)/flips)
		for i := 0; i < len(key); i++ {
			if i >= head && i%step != 0 {
				continue
			}
			b := bytes.Clone(key)
			b[i] ^= 0xff
			decodeAny(t, b)
			if i < head {
				for bit := range 8 {
					b := bytes.Clone(key)
					b[i] ^= 1 << bit
					decodeAny(t, b)
				}
			}
		}
	}
}

func TestCorruptNotArrow(t *testing.T) {
	d := partd.NewDict()
	must(t, d.Set("k", []byte("PAR1 this is a parquet file, or so it says")))
	s := newStore(t, d)
	_, err := s.Get("k")
	wantErr(t, "Get", err, partd.ErrCorrupt, `"k"`)
	_, err = s.Reader("k")
	wantErr(t, "Reader", err, partd.ErrCorrupt, `"k"`)
	err = s.Append(map[string][]arrow.RecordBatch{"k": {ids(memory.DefaultAllocator, 1)}})
	wantErr(t, "Append", err, partd.ErrCorrupt, `"k"`)
}
