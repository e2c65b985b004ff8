package arrowstore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
)

// benchSchema is W7's row: an id, a key of 200,000 values, a skewed tag,
// a float, a nullable string of 8-23 bytes, a timestamp, a flag and a
// nullable int32.
var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tag", Type: arrow.BinaryTypes.String},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
}, nil)

// benchBatch returns a batch of rows of benchSchema.
func benchBatch(rows int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
	defer b.Release()
	tags := []string{"a", "a", "a", "b", "b", "c", "d", "e"}
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int64Builder).Append(r.Int64N(200_000))
		b.Field(2).(*array.StringBuilder).Append(tags[r.IntN(len(tags))])
		b.Field(3).(*array.Float64Builder).Append(r.Float64())
		if i%10 == 0 {
			b.Field(4).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("s-%0*d", 6+r.IntN(16), i))
		}
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + int64(i)))
		b.Field(6).(*array.BooleanBuilder).Append(i%3 == 0)
		if i%7 == 0 {
			b.Field(7).(*array.Int32Builder).AppendNull()
		} else {
			b.Field(7).(*array.Int32Builder).Append(int32(i))
		}
	}
	return b.NewRecordBatch()
}

// benchRows makes a batch of about 1 MiB in IPC.
const benchRows = 20_000

func streamOf(b testing.TB, rec arrow.RecordBatch) []byte {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkIPC compares the layer over a Log (and a Dict) with arrow-go's
// own IPC writer and reader on memory, for batches of about 1 MiB: append
// writes one stream of one batch; read reads it back, through a Reader,
// and releases it. The goal is at least 80% of arrow-go's own.
func BenchmarkIPC(b *testing.B) {
	rec := benchBatch(benchRows)
	defer rec.Release()
	stream := streamOf(b, rec)
	size := int64(len(stream))
	b.Logf("batch of %d rows, %d bytes in IPC", rec.NumRows(), size)
	stores := []struct {
		name string
		open func(b *testing.B) partd.Store
	}{
		{"dict", func(b *testing.B) partd.Store { return partd.NewDict() }},
		{"log", func(b *testing.B) partd.Store { return newLog(b) }},
	}

	b.Run("append/arrow-go", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// arrow-go's best case: one buffer, reset and written again, where
	// the first case keeps each stream in a buffer of its own, as a store
	// must.
	b.Run("append/arrow-go-reused", func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, st := range stores {
		b.Run("append/"+st.name, func(b *testing.B) {
			s, err := New(st.open(b))
			must(b, err)
			defer s.Close()
			keys := make([]string, 64)
			for i := range keys {
				keys[i] = fmt.Sprintf("part-%02d", i)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := s.Append(map[string][]arrow.RecordBatch{keys[i%len(keys)]: {rec}}); err != nil {
					b.Fatal(err)
				}
				i++
				if i%256 == 0 && st.name == "dict" {
					b.StopTimer()
					must(b, s.Drop()) // keep memory bounded
					b.StartTimer()
				}
			}
		})
	}

	// The Log alone, given the stream's bytes: what the store costs, apart
	// from the layer.
	b.Run("append/log-bytes", func(b *testing.B) {
		l := newLog(b)
		defer l.Close()
		b.SetBytes(size)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := l.Append(map[string][]byte{fmt.Sprintf("part-%02d", i%64): stream}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	b.Run("read/arrow-go", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			rd, err := ipc.NewReader(bytes.NewReader(stream))
			if err != nil {
				b.Fatal(err)
			}
			for rd.Next() {
				_ = rd.RecordBatch().NumRows()
			}
			if err := rd.Err(); err != nil {
				b.Fatal(err)
			}
			rd.Release()
		}
	})
	for _, st := range stores {
		b.Run("read/"+st.name, func(b *testing.B) {
			s, err := New(st.open(b))
			must(b, err)
			defer s.Close()
			keys := make([]string, 16)
			for i := range keys {
				keys[i] = fmt.Sprintf("part-%02d", i)
				must(b, s.Append(map[string][]arrow.RecordBatch{keys[i]: {rec}}))
			}
			b.SetBytes(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r, err := s.Reader(keys[i%len(keys)])
				if err != nil {
					b.Fatal(err)
				}
				for r.Next() {
					_ = r.RecordBatch().NumRows()
				}
				if err := r.Err(); err != nil {
					b.Fatal(err)
				}
				r.Release()
				i++
			}
		})
	}
}

// BenchmarkLogGet is the Log alone reading a key of one stream: what the
// store costs of read/log, apart from the layer.
func BenchmarkLogGet(b *testing.B) {
	rec := benchBatch(benchRows)
	defer rec.Release()
	stream := streamOf(b, rec)
	l := newLog(b)
	defer l.Close()
	for i := range 16 {
		must(b, l.Append(map[string][]byte{fmt.Sprintf("part-%02d", i): stream}))
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Get(fmt.Sprintf("part-%02d", i%16)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPartition splits a batch of about 1 MiB into 64 partitions by
// an int64 key: Partition (one Take per column of the rows sorted by
// partition, then slices) beside one Take of the whole batch per
// partition, and the hashing alone.
func BenchmarkPartition(b *testing.B) {
	rec := benchBatch(benchRows)
	defer rec.Release()
	ctx := context.Background()
	size := int64(len(streamOf(b, rec)))
	for _, by := range [][]string{{"key"}, {"s"}} {
		b.Run(fmt.Sprintf("by=%s/partition", by[0]), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				parts, err := Partition(ctx, rec, 64, by...)
				if err != nil {
					b.Fatal(err)
				}
				releaseAll(parts)
			}
		})
		b.Run(fmt.Sprintf("by=%s/take-per-partition", by[0]), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var hashes []uint64
			for b.Loop() {
				var err error
				hashes, err = HashRows(rec, by, hashes)
				must(b, err)
				idx := make([][]int, 64)
				for i, h := range hashes {
					p := PartitionOf(h, 64)
					idx[p] = append(idx[p], i)
				}
				for _, rows := range idx {
					ia := indexArray(memory.DefaultAllocator, rows)
					in, ix := compute.NewDatum(rec), compute.NewDatum(ia)
					out, err := compute.Take(ctx, compute.TakeOptions{BoundsCheck: false}, in, ix)
					must(b, err)
					out.Release()
					in.Release()
					ix.Release()
					ia.Release()
				}
			}
		})
		b.Run(fmt.Sprintf("by=%s/hash", by[0]), func(b *testing.B) {
			b.SetBytes(size)
			var hashes []uint64
			for b.Loop() {
				var err error
				if hashes, err = HashRows(rec, by, hashes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
