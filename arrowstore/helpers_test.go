package arrowstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/gopartd/partd/server/servertest"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inner is a kind of inner store the tests run over.
type inner struct {
	name string
	open func(t *testing.T) partd.Store
}

func newLog(t testing.TB) *partd.Log {
	l, err := partd.NewLog(t.TempDir())
	must(t, err)
	return l
}

// inners are the stores every layer test runs over: each write policy, a
// Buffer that spills to a Log (a small limit, so that it spills), a
// client of a server over a Log, and a real redis-server.
var inners = []inner{
	{"Dict", func(t *testing.T) partd.Store { return partd.NewDict() }},
	{"File", func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		must(t, err)
		return f
	}},
	{"Log", func(t *testing.T) partd.Store { return newLog(t) }},
	{"Buffer(Dict,Log)", func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewDict(), newLog(t), 4096)
	}},
	{"Buffer(OffHeapDict,Log)", func(t *testing.T) partd.Store {
		return partd.NewBuffer(partd.NewOffHeapDict(), newLog(t), 4096)
	}},
	{"Client(Log)", func(t *testing.T) partd.Store {
		return servertest.Dial(t, servertest.New(t, newLog(t)))
	}},
	{"Redis", func(t *testing.T) partd.Store {
		c := redistest.NewServer(t).Client()
		t.Cleanup(func() { c.Close() })
		s, err := redisstore.New(c, "arrow")
		must(t, err)
		return s
	}},
}

// newStore returns a Store over in, closed at the end of the test.
func newStore(t *testing.T, in partd.Store, opts ...Option) *Store {
	t.Helper()
	s, err := New(in, opts...)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// checked returns a checked allocator that the test asserts is empty at
// its end (cleanups run last-in first-out: register it before anything
// that releases into it).
func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// ids returns a batch of one int64 column "id".
func ids(mem memory.Allocator, vals ...int64) arrow.RecordBatch {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, nil)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(idSchema, []arrow.Array{col}, int64(len(vals)))
}

// idsOf returns the ids of batches of idSchema, in order.
func idsOf(recs []arrow.RecordBatch) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Column(0).(*array.Int64).Int64Values()...)
	}
	return out
}

// allTypes is a schema of every column type a Parquet, CSV or Arrow file
// commonly holds, and some nested ones, all nullable.
var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "bool", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "lstr", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "lbin", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	{Name: "vstr", Type: arrow.BinaryTypes.StringView, Nullable: true},
	{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
	{Name: "date32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "date64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "time32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
	{Name: "time64", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "ts_s", Type: arrow.FixedWidthTypes.Timestamp_s, Nullable: true},
	{Name: "ts_us_utc", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "dur", Type: arrow.FixedWidthTypes.Duration_ms, Nullable: true},
	{Name: "dec128", Type: &arrow.Decimal128Type{Precision: 20, Scale: 4}, Nullable: true},
	{Name: "dec256", Type: &arrow.Decimal256Type{Precision: 40, Scale: 2}, Nullable: true},
	{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	{Name: "struct", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	{Name: "null", Type: arrow.Null, Nullable: true},
}, nil)

// allTypesJSON returns n rows of allTypes as JSON, starting at row from;
// every third row of every column is NULL, shifted by column.
func allTypesJSON(from, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for r := from; r < from+n; r++ {
		if r > from {
			b.WriteString(",\n")
		}
		vals := []string{
			fmt.Sprint(int8(r)), fmt.Sprint(int16(r * 7)), fmt.Sprint(int32(-r * 1000)), fmt.Sprint(int64(r) << 40),
			fmt.Sprint(uint8(r)), fmt.Sprint(uint16(r * 3)), fmt.Sprint(uint32(r) * 100000), fmt.Sprint(uint64(r) << 50),
			fmt.Sprint(float32(r) / 2), fmt.Sprint(float32(r) / 3), fmt.Sprint(float64(r) / 7),
			fmt.Sprint(r%2 == 0),
			fmt.Sprintf("%q", fmt.Sprintf("str-%d-é", r)),
			fmt.Sprintf("%q", fmt.Sprintf("large-%d", r)),
			fmt.Sprintf("%q", "Ymlu"), // base64 "bin"
			fmt.Sprintf("%q", "bGJpbg=="),
			fmt.Sprintf("%q", fmt.Sprintf("a view string longer than twelve bytes %d", r)),
			fmt.Sprintf("%q", "YWJj"),
			fmt.Sprint(18000 + r), fmt.Sprint(int64(18000+r) * 86400000),
			fmt.Sprint(r * 1000), fmt.Sprint(int64(r) * 1000000),
			fmt.Sprint(int64(1600000000 + r)), fmt.Sprint(int64(1600000000+r) * 1000000), fmt.Sprint(int64(1600000000+r) * 1000000000),
			fmt.Sprint(r * 10),
			fmt.Sprintf("%q", fmt.Sprintf("%d.%04d", r, r%10000)),
			fmt.Sprintf("%q", fmt.Sprintf("-%d.%02d", r*1000, r%100)),
			fmt.Sprintf("%q", []string{"red", "green", "blue"}[r%3]),
			fmt.Sprintf("[%d, %d]", r, -r),
			fmt.Sprintf(`{"x": %d.5, "y": "s%d"}`, r, r),
			"null",
		}
		b.WriteString("{")
		for c, f := range allTypes.Fields() {
			if c > 0 {
				b.WriteString(", ")
			}
			v := vals[c]
			if (r+c)%3 == 0 {
				v = "null"
			}
			fmt.Fprintf(&b, "%q: %s", f.Name, v)
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	return b.String()
}

// allTypesBatch returns n rows of allTypes starting at row from.
func allTypesBatch(t testing.TB, mem memory.Allocator, from, n int) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, allTypes, strings.NewReader(allTypesJSON(from, n)))
	must(t, err)
	return rec
}

// wantBatches fails unless got and want hold the same batches.
func wantBatches(t testing.TB, what string, got, want []arrow.RecordBatch) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d batches, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !array.RecordEqual(got[i], want[i]) {
			t.Fatalf("%s: batch %d differs:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

func wantErr(t testing.TB, what string, err, target error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("%s: error %q does not mention %q", what, err, m)
		}
	}
}
