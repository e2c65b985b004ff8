package arrowstore

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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
// The gather is arrow-go's compute.Take, once per column, with the rows
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
// sort builds the permutation, and compute.Take applies it to each column,
// the columns on up to GOMAXPROCS goroutines. The few types compute.Take
// has no kernel for (views, list views, run-end encoded and sparse union
// columns, and columns nesting them) are gathered here.
func gather(ctx context.Context, rec arrow.RecordBatch, parts []int32, starts []int) (arrow.RecordBatch, error) {
	mem := compute.GetAllocator(ctx)
	rows := len(parts)
	next := slices.Clone(starts)
	perm := make([]int, rows)
	for i, p := range parts {
		perm[next[p]] = i
		next[p]++
	}
	indices := indexArray(mem, perm)
	defer indices.Release()

	cols := make([]arrow.Array, rec.NumCols())
	errs := make([]error, len(cols))
	var (
		wg      sync.WaitGroup
		nextCol atomic.Int64
	)
	workers := min(len(cols), runtime.GOMAXPROCS(0))
	for range workers {
		wg.Go(func() {
			for {
				c := int(nextCol.Add(1) - 1)
				if c >= len(cols) {
					return
				}
				col := rec.Column(c)
				if takeable(col.DataType()) {
					cols[c], errs[c] = compute.TakeArrayOpts(ctx, col, indices, compute.TakeOptions{BoundsCheck: false})
				} else {
					cols[c], errs[c] = gatherSlow(mem, col, perm)
				}
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("arrowstore: partition: column %q: %w", rec.Schema().Field(c).Name, err)
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(rows)), nil
}

// indexArray returns perm as an Int32 array (Int64 past 2^31 rows).
func indexArray(mem memory.Allocator, perm []int) arrow.Array {
	buf := memory.NewResizableBuffer(mem)
	defer buf.Release()
	typ := arrow.DataType(arrow.PrimitiveTypes.Int32)
	if len(perm) <= math.MaxInt32 {
		buf.Resize(len(perm) * 4)
		out := arrow.Int32Traits.CastFromBytes(buf.Bytes())
		for i, p := range perm {
			out[i] = int32(p)
		}
	} else {
		typ = arrow.PrimitiveTypes.Int64
		buf.Resize(len(perm) * 8)
		out := arrow.Int64Traits.CastFromBytes(buf.Bytes())
		for i, p := range perm {
			out[i] = int64(p)
		}
	}
	data := array.NewData(typ, len(perm), []*memory.Buffer{nil, buf}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// takeable reports whether compute.Take has a kernel for columns of dt.
func takeable(dt arrow.DataType) bool {
	switch dt := dt.(type) {
	case *arrow.BinaryViewType, *arrow.StringViewType, *arrow.ListViewType, *arrow.LargeListViewType,
		*arrow.RunEndEncodedType, *arrow.SparseUnionType:
		return false
	case *arrow.DictionaryType:
		return true // Take takes the indexes
	case arrow.ExtensionType:
		return takeable(dt.StorageType())
	case arrow.NestedType:
		for _, f := range dt.Fields() {
			if !takeable(f.Type) {
				return false
			}
		}
	}
	return true
}

// gatherSlow gathers the rows perm of arr for the types compute.Take
// cannot: views through a builder, anything else by concatenating the runs
// of consecutive rows.
func gatherSlow(mem memory.Allocator, arr arrow.Array, perm []int) (arrow.Array, error) {
	switch a := arr.(type) {
	case *array.StringView:
		b := array.NewStringViewBuilder(mem)
		defer b.Release()
		b.Reserve(len(perm))
		for _, i := range perm {
			if a.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(a.Value(i))
			}
		}
		return b.NewArray(), nil
	case *array.BinaryView:
		b := array.NewBinaryViewBuilder(mem)
		defer b.Release()
		b.Reserve(len(perm))
		for _, i := range perm {
			if a.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(a.Value(i))
			}
		}
		return b.NewArray(), nil
	}
	var pieces []arrow.Array
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	for j := 0; j < len(perm); {
		k := j + 1
		for k < len(perm) && perm[k] == perm[k-1]+1 {
			k++
		}
		pieces = append(pieces, array.NewSlice(arr, int64(perm[j]), int64(perm[k-1]+1)))
		j = k
	}
	if len(pieces) == 0 {
		return array.NewSlice(arr, 0, 0), nil
	}
	return array.Concatenate(pieces, mem)
}
