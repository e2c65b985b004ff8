package arrowstore

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// PartitionOf returns the partition, of n, of a row whose hash is h: the
// high 64 bits of the 128-bit product h×n, which spreads hashes evenly
// over [0, n) without a division.
func PartitionOf(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// hashPool holds the scratch slices of Partition.
var hashPool = sync.Pool{New: func() any { return new(partitionScratch) }}

type partitionScratch struct {
	hashes []uint64
	parts  []int32
	counts []int
}

// Partition splits rec into n batches by the hash of the columns named by
// (see [HashRows]): row i goes to batch PartitionOf(hash_i, n). Rows with
// equal values in those columns always land in the same partition, in any
// batch and any process, and each partition keeps the rows in their input
// order. It returns n batches, some perhaps without rows, which the caller
// releases; their rows add up to rec's.
//
// The gather is arrow-go's compute.Take, once over rec, with the rows
// sorted by partition (stably); the n batches are slices of its result,
// sharing its buffers, which are freed when the last of them is released.
// Memory comes from the allocator in ctx (compute.WithAllocator), else
// memory.DefaultAllocator, as for compute's own functions.
func Partition(ctx context.Context, rec arrow.RecordBatch, n int, by ...string) ([]arrow.RecordBatch, error) {
	if n < 1 || n > math.MaxInt32 {
		return nil, fmt.Errorf("arrowstore: partition: %d partitions", n)
	}
	rows := int(rec.NumRows())
	sc := hashPool.Get().(*partitionScratch)
	defer hashPool.Put(sc)
	var err error
	if sc.hashes, err = HashRows(rec, by, sc.hashes); err != nil {
		return nil, err
	}
	if cap(sc.parts) < rows {
		sc.parts = make([]int32, rows)
	}
	parts := sc.parts[:rows]
	if cap(sc.counts) < n+1 {
		sc.counts = make([]int, n+1)
	}
	counts := sc.counts[:n+1]
	clear(counts)
	sorted := true
	prev := int32(0)
	for i, h := range sc.hashes {
		p := int32(PartitionOf(h, n))
		parts[i] = p
		counts[p+1]++
		if p < prev {
			sorted = false
		}
		prev = p
	}
	for p := 1; p <= n; p++ {
		counts[p] += counts[p-1] // counts[p] is now where partition p starts
	}
	gathered := rec
	if sorted {
		rec.Retain() // the rows are in partition order already: no gather
	} else {
		if gathered, err = gather(ctx, rec, parts, counts); err != nil {
			return nil, err
		}
	}
	defer gathered.Release()
	out := make([]arrow.RecordBatch, n)
	for p := range n {
		end := rows
		if p+1 < n {
			end = counts[p+1]
		}
		out[p] = gathered.NewSlice(int64(counts[p]), int64(end))
	}
	return out, nil
}

// gather returns the rows of rec sorted by partition, stably: a counting
// sort builds the permutation, compute.Take applies it.
func gather(ctx context.Context, rec arrow.RecordBatch, parts []int32, starts []int) (arrow.RecordBatch, error) {
	mem := compute.GetAllocator(ctx)
	rows := len(parts)
	next := make([]int, len(starts))
	copy(next, starts)
	var indices arrow.Array
	if rows <= math.MaxInt32 {
		buf := memory.NewResizableBuffer(mem)
		buf.Resize(rows * 4)
		perm := arrow.Int32Traits.CastFromBytes(buf.Bytes())
		for i, p := range parts {
			perm[next[p]] = int32(i)
			next[p]++
		}
		data := array.NewData(arrow.PrimitiveTypes.Int32, rows, []*memory.Buffer{nil, buf}, nil, 0, 0)
		buf.Release()
		indices = array.MakeFromData(data)
		data.Release()
	} else {
		buf := memory.NewResizableBuffer(mem)
		buf.Resize(rows * 8)
		perm := arrow.Int64Traits.CastFromBytes(buf.Bytes())
		for i, p := range parts {
			perm[next[p]] = int64(i)
			next[p]++
		}
		data := array.NewData(arrow.PrimitiveTypes.Int64, rows, []*memory.Buffer{nil, buf}, nil, 0, 0)
		buf.Release()
		indices = array.MakeFromData(data)
		data.Release()
	}
	defer indices.Release()
	in := compute.NewDatum(rec)
	defer in.Release()
	idx := compute.NewDatum(indices)
	defer idx.Release()
	out, err := compute.Take(ctx, compute.TakeOptions{BoundsCheck: false}, in, idx)
	if err != nil {
		return nil, fmt.Errorf("arrowstore: partition: %w", err)
	}
	defer out.Release()
	res, ok := out.(*compute.RecordDatum)
	if !ok {
		return nil, fmt.Errorf("arrowstore: partition: take returned %s", out.Kind())
	}
	res.Value.Retain()
	return res.Value, nil
}
