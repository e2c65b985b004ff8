package dfshuffle

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func oneColumn(t *testing.T, name string, arr arrow.Array) arrow.RecordBatch {
	t.Helper()
	defer arr.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: name, Type: arr.DataType(), Nullable: true}}, nil)
	return array.NewRecordBatch(sc, []arrow.Array{arr}, int64(arr.Len()))
}

func checksums(t *testing.T, rec arrow.RecordBatch) []uint64 {
	t.Helper()
	defer rec.Release()
	h, err := RowChecksums(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRowChecksums: a row's checksum depends on every value, on NULLs, on
// the column's type and name, on float bits, and not on how the batch was
// sliced or laid out.
func TestRowChecksums(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)

	i64 := array.NewInt64Builder(mem)
	i64.AppendValues([]int64{1, 2, 0}, []bool{true, true, false})
	i32 := array.NewInt32Builder(mem)
	i32.AppendValues([]int32{1, 2, 0}, []bool{true, true, false})
	zero := array.NewInt64Builder(mem)
	zero.AppendValues([]int64{1, 2, 0}, nil)
	a, b, c := checksums(t, oneColumn(t, "v", i64.NewArray())), checksums(t, oneColumn(t, "v", i32.NewArray())), checksums(t, oneColumn(t, "v", zero.NewArray()))
	if a[0] == b[0] || a[1] == b[1] {
		t.Error("int64 and int32 values hash alike")
	}
	if a[2] == c[2] {
		t.Error("NULL and 0 hash alike")
	}
	if a[0] != c[0] || a[0] == a[1] {
		t.Error("values do not decide the checksum")
	}
	i64.AppendValues([]int64{1}, nil)
	renamed := checksums(t, oneColumn(t, "w", i64.NewArray()))
	if renamed[0] == a[0] {
		t.Error("the column's name does not count")
	}

	f := array.NewFloat64Builder(mem)
	f.AppendValues([]float64{0, math.Copysign(0, -1), math.NaN(), math.Float64frombits(0x7FF8000000000002)}, nil)
	fh := checksums(t, oneColumn(t, "x", f.NewArray()))
	if fh[0] == fh[1] || fh[2] == fh[3] {
		t.Error("float bits are not kept: -0 or NaN payloads hash alike")
	}

	// Strings, and the same strings as a slice of a longer array and as a
	// dictionary: equal checksums.
	s := array.NewStringBuilder(mem)
	s.AppendValues([]string{"x", "a", "b", "a"}, []bool{true, true, false, true})
	full := s.NewArray()
	sliced := array.NewSlice(full, 1, 4)
	full.Release()
	plain := array.NewStringBuilder(mem)
	plain.AppendValues([]string{"a", "", "a"}, []bool{true, false, true})
	d := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	d.AppendString("a")
	d.AppendNull()
	d.AppendString("a")
	hs, hp := checksums(t, oneColumn(t, "s", sliced)), checksums(t, oneColumn(t, "s", plain.NewArray()))
	hd := checksums(t, oneColumn(t, "s", d.NewArray()))
	for i := range hs {
		if hs[i] != hp[i] {
			t.Errorf("row %d: a sliced array hashes differently", i)
		}
	}
	if hs[0] != hs[2] || hs[0] == hs[1] {
		t.Error("string checksums")
	}
	if hd[0] != hd[2] || hd[1] == hd[0] {
		t.Error("dictionary checksums")
	}

	// A list column.
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
	vb := lb.ValueBuilder().(*array.Int32Builder)
	lb.Append(true)
	vb.AppendValues([]int32{1, 2}, nil)
	lb.Append(true)
	vb.AppendValues([]int32{1}, nil)
	lb.Append(true)
	vb.AppendValues([]int32{2}, nil)
	lb.AppendNull()
	lh := checksums(t, oneColumn(t, "l", lb.NewArray()))
	if lh[0] == lh[1] || lh[1] == lh[2] || lh[3] == lh[1] {
		t.Error("list checksums")
	}
	for _, bl := range []array.Builder{i64, i32, zero, f, s, plain, d, lb} {
		bl.Release()
	}
}

// TestInferCSVTypes: arrow-go's order of types, over every sampled value.
func TestInferCSVTypes(t *testing.T) {
	cases := []struct {
		vals []string
		want string
	}{
		{nil, "utf8"},
		{[]string{"1", "-2", "30"}, "int64"},
		{[]string{"1", "2.5"}, "float64"},
		{[]string{"true", "false"}, "bool"},
		{[]string{"1", "true"}, "bool"},
		{[]string{"2", "true"}, "utf8"},
		{[]string{"2024-01-02", "2024-12-31"}, "date32"},
		{[]string{"2024-01-02", "2024-01-02 10:00:00"}, "timestamp[s]"},
		{[]string{"2024-01-02 10:00:00", "2024-01-02 10:00:00.123456"}, "timestamp[ns]"},
		{[]string{"2024-01-02T10:00:00Z"}, "timestamp[s, tz=UTC]"},
		{[]string{"10:00:00"}, "time32[s]"},
		{[]string{"nan", "1e3", "-0.0"}, "float64"},
		{[]string{"x", "1"}, "utf8"},
		{[]string{"\xff\xfe"}, "binary"},
	}
	for _, c := range cases {
		if got := InferCSVTypes(c.vals).String(); got != c.want {
			t.Errorf("InferCSVTypes(%q) = %s, want %s", c.vals, got, c.want)
		}
	}
}

// TestCSVSchemaAcrossFiles: the types of CSV columns are inferred over the
// samples of every file, as if they were one.
func TestCSVSchemaAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o666); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.csv", "i,f,s,b,e\n1,1,2,1,\n2,2,3,0,\n")
	b := write("b.csv", "i,f,s,b,e\n3,2.5,true,true,NULL\n")
	opts := CSVOptions{Comma: ',', InferRows: 100}
	var samples []*csvSample
	for _, p := range []string{a, b} {
		s, err := sampleCSV(p, opts)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, s)
	}
	sc, err := inferCSVSchema(samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sc.Fields() {
		got = append(got, f.Name+" "+f.Type.String())
	}
	want := []string{"i int64", "f float64", "s utf8", "b bool", "e utf8"}
	if !slices.Equal(got, want) {
		t.Fatalf("schema %v, want %v", got, want)
	}
}
