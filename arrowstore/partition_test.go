package arrowstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/zeebo/xxh3"
)

// withRowIDs returns rec with a first column "rowid" holding 0, 1, 2, ….
func withRowIDs(mem memory.Allocator, rec arrow.RecordBatch) arrow.RecordBatch {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := range rec.NumRows() {
		b.Append(i)
	}
	id := b.NewArray()
	defer id.Release()
	fields := append([]arrow.Field{{Name: "rowid", Type: arrow.PrimitiveTypes.Int64}}, rec.Schema().Fields()...)
	cols := append([]arrow.Array{id}, rec.Columns()...)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

// checkPartitions checks the properties Partition promises of parts, the
// partitions of in (which has a rowid column) by the columns by.
func checkPartitions(t *testing.T, in arrow.RecordBatch, parts []arrow.RecordBatch, n int, by []string) {
	t.Helper()
	if len(parts) != n {
		t.Fatalf("%d partitions, want %d", len(parts), n)
	}
	seen := make([]bool, in.NumRows())
	var rows int64
	for p, part := range parts {
		if !part.Schema().Equal(in.Schema()) {
			t.Fatalf("partition %d has schema %s", p, part.Schema())
		}
		rows += part.NumRows()
		hashes, err := HashRows(part, by, nil)
		must(t, err)
		ids := part.Column(0).(*array.Int64).Int64Values()
		for j, h := range hashes {
			if got := PartitionOf(h, n); got != p {
				t.Fatalf("row %d (input row %d) is in partition %d, its hash says %d", j, ids[j], p, got)
			}
			if j > 0 && ids[j] <= ids[j-1] {
				t.Fatalf("partition %d: row %d after row %d: input order lost", p, ids[j], ids[j-1])
			}
			id := int(ids[j])
			if seen[id] {
				t.Fatalf("input row %d twice", id)
			}
			seen[id] = true
			for c := range in.NumCols() {
				if !array.SliceEqual(part.Column(int(c)), int64(j), int64(j+1), in.Column(int(c)), int64(id), int64(id+1)) {
					t.Fatalf("partition %d row %d, column %d: %s, input row %d has %s", p, j, c,
						part.Column(int(c)).ValueStr(j), id, in.Column(int(c)).ValueStr(id))
				}
			}
		}
	}
	if rows != in.NumRows() {
		t.Fatalf("partitions hold %d rows, the input %d", rows, in.NumRows())
	}
}

func TestPartition(t *testing.T) {
	mem := checked(t)
	ctx := compute.WithAllocator(context.Background(), mem)
	base := allTypesBatch(t, mem, 0, 500)
	defer base.Release()
	in := withRowIDs(mem, base)
	defer in.Release()
	for _, by := range [][]string{
		{"i64"}, {"i8"}, {"u64"}, {"f64"}, {"f16"}, {"bool"}, {"str"}, {"lstr"}, {"bin"}, {"lbin"}, {"vstr"}, {"fsb"},
		{"date32"}, {"date64"}, {"time32"}, {"time64"}, {"ts_s"}, {"ts_us_utc"}, {"dur"}, {"dec128"}, {"dec256"},
		{"dict"}, {"null"}, {"str", "i32"}, {"bool", "dict", "f32"},
	} {
		for _, n := range []int{1, 2, 7, 64} {
			t.Run(fmt.Sprintf("%s/%d", strings.Join(by, ","), n), func(t *testing.T) {
				before := mem.CurrentAlloc()
				parts, err := Partition(ctx, in, n, by...)
				must(t, err)
				checkPartitions(t, in, parts, n, by)
				releaseAll(parts)
				if after := mem.CurrentAlloc(); after != before {
					t.Fatalf("%d bytes left allocated", after-before)
				}
			})
		}
	}
}

// TestPartitionSameKeySamePartition partitions two batches that share key
// values in another order, with other columns and other integer widths:
// equal keys land in equal partitions.
func TestPartitionSameKeySamePartition(t *testing.T) {
	ctx := context.Background()
	mk := func(keys []int64, names []string, wide bool) arrow.RecordBatch {
		var kcol arrow.Array
		if wide {
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.AppendValues(keys, nil)
			kcol = b.NewArray()
		} else {
			b := array.NewInt32Builder(memory.DefaultAllocator)
			for _, k := range keys {
				b.Append(int32(k))
			}
			kcol = b.NewArray()
		}
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		sb.AppendValues(names, nil)
		scol := sb.NewArray()
		sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: kcol.DataType()}, {Name: "name", Type: arrow.BinaryTypes.String}}, nil)
		return array.NewRecordBatch(sc, []arrow.Array{kcol, scol}, int64(len(keys)))
	}
	var keys []int64
	var names []string
	for i := range 1000 {
		keys = append(keys, int64(i%97)*1_000_003)
		names = append(names, fmt.Sprint("n", i%13))
	}
	a := mk(keys, names, true)
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	b := mk(rev, names, false)
	where := map[string]int{}
	for _, rec := range []arrow.RecordBatch{a, b} {
		for _, by := range [][]string{{"k"}, {"name", "k"}} {
			parts, err := Partition(ctx, rec, 16, by...)
			must(t, err)
			for p, part := range parts {
				for j := range int(part.NumRows()) {
					var key strings.Builder
					for _, c := range by {
						col := part.Column(part.Schema().FieldIndices(c)[0])
						key.WriteString(c + "=" + col.ValueStr(j) + ";")
					}
					if q, ok := where[key.String()]; ok && q != p {
						t.Fatalf("key %s in partitions %d and %d", key.String(), q, p)
					}
					where[key.String()] = p
				}
			}
			releaseAll(parts)
		}
	}
	if len(where) < 97 {
		t.Fatalf("%d distinct keys", len(where))
	}
}

func TestPartitionErrors(t *testing.T) {
	ctx := context.Background()
	rec := ids(memory.DefaultAllocator, 1, 2, 3)
	for _, tc := range []struct {
		n    int
		by   []string
		want string
	}{
		{0, []string{"id"}, "0 partitions"},
		{2, nil, "no columns"},
		{2, []string{"nope"}, `no column "nope"`},
	} {
		if _, err := Partition(ctx, rec, tc.n, tc.by...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Partition(%d, %q): %v, want %q", tc.n, tc.by, err, tc.want)
		}
	}
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	lb.Append(true)
	lst := lb.NewArray()
	lrec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "l", Type: lst.DataType()}}, nil), []arrow.Array{lst}, 1)
	if _, err := Partition(ctx, lrec, 2, "l"); err == nil || !strings.Contains(err.Error(), "cannot hash") {
		t.Errorf("list column: %v", err)
	}
	// An empty batch makes n empty partitions.
	empty := ids(memory.DefaultAllocator)
	parts, err := Partition(ctx, empty, 3, "id")
	must(t, err)
	if len(parts) != 3 || parts[2].NumRows() != 0 {
		t.Fatal("partitions of an empty batch")
	}
}

// TestHashGolden pins the row hash: it decides where rows land, so a
// change moves every stored row.
func TestHashGolden(t *testing.T) {
	h := func(typ arrow.DataType, json string) []uint64 {
		t.Helper()
		sc := arrow.NewSchema([]arrow.Field{{Name: "c", Type: typ, Nullable: true}}, nil)
		rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(json))
		must(t, err)
		out, err := HashRows(rec, []string{"c"}, nil)
		must(t, err)
		return out
	}
	ints := h(arrow.PrimitiveTypes.Int64, `[{"c": 0}, {"c": 1}, {"c": -1}, {"c": null}, {"c": 1234567890123}]`)
	// mix64(hashSeed ^ v), as computed apart from this package (in Python).
	want := []uint64{0x9ca066f1a4ab2eea, 0x25b775faeca8f520, 0x3cd617bbbcc39640, 0x4e6c6a08eb117a46, 0xcdee35b36e5a316}
	if !slices.Equal(ints, want) {
		t.Errorf("int64 hashes %#x, want %#x", ints, want)
	}
	strs := h(arrow.BinaryTypes.String, `[{"c": ""}, {"c": "a"}, {"c": "partd"}, {"c": null}]`)
	wantStrs := []uint64{0x928a7eac8a72a7ca, 0x510cbb76e9c00df3, 0x703fd20453562f09, 0x4e6c6a08eb117a46}
	// XXH3-64 of no bytes, from the xxHash specification's test vectors.
	if got := xxh3.HashString(""); got != 0x2D06800538D394C2 {
		t.Errorf("XXH3 of no bytes is %#x", got)
	}
	if !slices.Equal(strs, wantStrs) {
		t.Errorf("string hashes %#x, want %#x", strs, wantStrs)
	}
	// Equal values hash equal across layouts and widths.
	same := [][2][]uint64{
		{h(arrow.PrimitiveTypes.Int32, `[{"c": 1}, {"c": -1}]`), ints[1:3]},
		{h(arrow.PrimitiveTypes.Int8, `[{"c": 1}, {"c": -1}]`), ints[1:3]},
		{h(arrow.PrimitiveTypes.Uint16, `[{"c": 0}, {"c": 1}]`), ints[0:2]},
		{h(arrow.BinaryTypes.LargeString, `[{"c": ""}, {"c": "a"}]`), strs[0:2]},
		{h(arrow.BinaryTypes.Binary, `[{"c": ""}, {"c": "YQ=="}]`), strs[0:2]},
		{h(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, `[{"c": "a"}, {"c": "partd"}, {"c": null}]`), strs[1:4]},
		{h(arrow.PrimitiveTypes.Float64, `[{"c": 0}, {"c": -0.0}]`), h(arrow.PrimitiveTypes.Float32, `[{"c": 0}, {"c": 0}]`)},
		{h(&arrow.Decimal128Type{Precision: 10, Scale: 0}, `[{"c": "0"}, {"c": "1"}]`), ints[0:2]},
	}
	for i, s := range same {
		if !slices.Equal(s[0], s[1]) {
			t.Errorf("case %d: %#x, want %#x", i, s[0], s[1])
		}
	}
	if nan := h(arrow.PrimitiveTypes.Float64, `[{"c": 1.5}]`); nan[0] == ints[1] {
		t.Error("1.5 hashes as 1")
	}
	if got := PartitionOf(math.MaxUint64, 64); got != 63 {
		t.Errorf("PartitionOf(max, 64) = %d", got)
	}
	if got := PartitionOf(0, 64); got != 0 {
		t.Errorf("PartitionOf(0, 64) = %d", got)
	}
}
