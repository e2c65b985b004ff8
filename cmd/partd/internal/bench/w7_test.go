package bench

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestW7Batch checks W7's generated columns against the workload's
// definition, and that a range of rows is the same whichever batch holds it.
func TestW7Batch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := W7Batch(mem, 0, 26_000)
	defer rec.Release()
	part := W7Batch(mem, 13_000, 13_100)
	defer part.Release()
	keys := rec.Column(1).(*array.Int64)
	tags := rec.Column(2).(*array.String)
	ss := rec.Column(4).(*array.String)
	ns := rec.Column(7).(*array.Int32)
	hot, distinct := 0, map[int64]bool{}
	for i := range int(rec.NumRows()) {
		if k := keys.Value(i); k < 0 || k >= 200_000 {
			t.Fatalf("row %d: key %d out of range", i, k)
		} else {
			distinct[k] = true
		}
		if tags.Value(i) == "hot" {
			hot++
		}
		if ss.IsNull(i) != (i%13 == 0) || ns.IsNull(i) != (i%7 == 0) {
			t.Fatalf("row %d: NULLs of s %v, n %v", i, ss.IsNull(i), ns.IsNull(i))
		}
		if !ss.IsNull(i) && len(ss.Value(i)) != 8+i%16 {
			t.Fatalf("row %d: s %q, want %d bytes", i, ss.Value(i), 8+i%16)
		}
	}
	if hot < 2_000 || hot > 3_200 {
		t.Errorf("%d hot tags in 26,000 rows, want about 10%%", hot)
	}
	if len(distinct) < 20_000 {
		t.Errorf("%d distinct keys in 26,000 rows", len(distinct))
	}
	for c := range rec.NumCols() {
		want := array.NewSlice(rec.Column(int(c)), 13_000, 13_100)
		if !array.Equal(want, part.Column(int(c))) {
			t.Errorf("column %s differs between batches", rec.ColumnName(int(c)))
		}
		want.Release()
	}
}
