package encode

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

func sampleTable(lo, hi int) Table {
	var (
		id   []int64
		x    []float32
		name []string
		blob [][]byte
	)
	for i := lo; i < hi; i++ {
		id = append(id, int64(i))
		x = append(x, float32(i)/2)
		name = append(name, "n"+itoa(i))
		blob = append(blob, []byte{byte(i)})
	}
	return Table{Columns: []Column{{"id", id}, {"x", x}, {"name", name}, {"blob", blob}}}
}

func TestColumnsLayoutAndGet(t *testing.T) {
	d := partd.NewDict()
	c := NewColumns(d)
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 3), "u/v": sampleTable(10, 11)}))
	must(t, c.Append(map[string]Table{"t": sampleTable(3, 5)}))
	keys, err := d.Keys()
	must(t, err)
	want := []string{"t/.schema", "t/blob", "t/blob.dtype", "t/id", "t/id.dtype", "t/name", "t/name.dtype", "t/x", "t/x.dtype",
		"u/v/.schema", "u/v/blob", "u/v/blob.dtype", "u/v/id", "u/v/id.dtype", "u/v/name", "u/v/name.dtype", "u/v/x", "u/v/x.dtype"}
	if !slices.Equal(keys, want) {
		t.Fatalf("inner keys = %q\nwant %q", keys, want)
	}
	raw, _ := d.Get("t/.schema", "t/id.dtype", "t/x.dtype", "t/name.dtype")
	if s := string(raw[0]); s != `{"version":1,"columns":[{"name":"id","type":"int64"},{"name":"x","type":"float32"},{"name":"name","type":"string"},{"name":"blob","type":"bytes"}]}` {
		t.Fatalf("schema = %s", s)
	}
	if string(raw[1]) != "<i8" || string(raw[2]) != "<f4" || string(raw[3]) != "|O" {
		t.Fatalf("dtypes = %q", raw[1:])
	}
	// A numeric column is a Numeric key.
	ids, err := Numeric[int64](d).Get("t/id")
	must(t, err)
	if !slices.Equal(ids[0], []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("t/id through Numeric = %v", ids[0])
	}
	got, err := c.Get("t", "missing", "u/v")
	must(t, err)
	if !reflect.DeepEqual(got[0], sampleTable(0, 5)) || !reflect.DeepEqual(got[2], sampleTable(10, 11)) {
		t.Fatalf("Get = %+v", got)
	}
	if len(got[1].Columns) != 0 {
		t.Fatalf("missing table = %+v", got[1])
	}
	sel, err := c.GetColumns([]string{"name", "id"}, "t")
	must(t, err)
	if want := (Table{Columns: []Column{{"name", []string{"n0", "n1", "n2", "n3", "n4"}}, {"id", []int64{0, 1, 2, 3, 4}}}}); !reflect.DeepEqual(sel[0], want) {
		t.Fatalf("GetColumns = %+v", sel[0])
	}
	if _, err := c.GetColumns([]string{"nope"}, "t"); !errors.Is(err, ErrSchema) {
		t.Fatalf("unknown column: err = %v, want ErrSchema", err)
	}
	if tk, _ := c.Keys(); !slices.Equal(tk, []string{"t", "u/v"}) {
		t.Fatalf("Keys = %q", tk)
	}
	s, err := c.Schema("t")
	must(t, err)
	if len(s) != 4 || s[2] != (Field{"name", "string"}) {
		t.Fatalf("Schema = %v", s)
	}
	if got[0].Len() != 5 {
		t.Fatalf("Len = %d", got[0].Len())
	}
}

func TestColumnsSchemaMismatch(t *testing.T) {
	c := NewColumns(partd.NewDict())
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 2)}))
	// Same columns in another order are fine.
	st := sampleTable(2, 3)
	slices.Reverse(st.Columns)
	must(t, c.Append(map[string]Table{"t": st}))
	bad := map[string]Table{
		"missing column": {Columns: sampleTable(0, 1).Columns[:3]},
		"extra column":   {Columns: append(sampleTable(0, 1).Columns, Column{"more", []int8{1}})},
		"other type":     {Columns: append(sampleTable(0, 1).Columns[:3:3], Column{"blob", []string{"s"}})},
	}
	for name, tab := range bad {
		err := c.Append(map[string]Table{"t": tab, "other": sampleTable(0, 1)})
		if !errors.Is(err, ErrSchema) || errors.Is(err, partd.ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrSchema", name, err)
		}
	}
	if keys, _ := c.Keys(); !slices.Equal(keys, []string{"t"}) {
		t.Fatalf("a rejected batch wrote: %q", keys)
	}
	got, err := c.Get("t")
	must(t, err)
	if got[0].Len() != 3 {
		t.Fatalf("table has %d rows, want 3", got[0].Len())
	}
}

func TestColumnsInvalidTables(t *testing.T) {
	c := NewColumns(partd.NewDict())
	for name, c2 := range map[string]struct {
		tab  Table
		want error
	}{
		"dot name":         {Table{Columns: []Column{{".schema", []int64{1}}}}, partd.ErrInvalidKey},
		"dtype name":       {Table{Columns: []Column{{"a.dtype", []int64{1}}}}, partd.ErrInvalidKey},
		"slash name":       {Table{Columns: []Column{{"a/b", []int64{1}}}}, partd.ErrInvalidKey},
		"empty name":       {Table{Columns: []Column{{"", []int64{1}}}}, partd.ErrInvalidKey},
		"dotdot name":      {Table{Columns: []Column{{"..", []int64{1}}}}, partd.ErrInvalidKey},
		"duplicate":        {Table{Columns: []Column{{"a", []int64{1}}, {"a", []int64{1}}}}, ErrSchema},
		"unsupported type": {Table{Columns: []Column{{"a", []int{1}}}}, ErrSchema},
		"ragged":           {Table{Columns: []Column{{"a", []int64{1}}, {"b", []int64{1, 2}}}}, ErrSchema},
	} {
		if err := c.Append(map[string]Table{"t": c2.tab}); !errors.Is(err, c2.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c2.want)
		}
	}
	if err := c.Append(map[string]Table{"a/../b": sampleTable(0, 1)}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("invalid table key: err = %v", err)
	}
	// No rows: nothing is created.
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 0), "u": {}}))
	if keys, _ := c.Keys(); len(keys) != 0 {
		t.Fatalf("empty tables created %q", keys)
	}
}

func TestColumnsSetDelete(t *testing.T) {
	d := partd.NewDict()
	c := NewColumns(d)
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 4), "keep": sampleTable(0, 1)}))
	repl := Table{Columns: []Column{{"id", []uint16{9, 8}}, {"z", []float64{1, 2}}}}
	must(t, c.Set("t", repl))
	got, err := c.Get("t")
	must(t, err)
	if !reflect.DeepEqual(got[0], repl) {
		t.Fatalf("after Set: %+v", got[0])
	}
	keys, _ := d.Keys()
	for _, k := range keys {
		if strings.HasPrefix(k, "t/name") || strings.HasPrefix(k, "t/blob") || strings.HasPrefix(k, "t/x") {
			t.Fatalf("Set left old column key %q", k)
		}
	}
	must(t, c.Delete("t", "never"))
	if keys, _ := d.Keys(); len(keys) != 9 {
		t.Fatalf("after Delete inner keys = %q", keys)
	}
	// A corrupt schema still deletes everything under the key.
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 1)}))
	must(t, d.Set("t/.schema", []byte("{garbage")))
	if _, err := c.Get("t"); !errors.Is(err, partd.ErrCorrupt) {
		t.Fatalf("corrupt schema: err = %v, want ErrCorrupt", err)
	}
	must(t, c.Delete("t"))
	if tk, _ := c.Keys(); !slices.Equal(tk, []string{"keep"}) {
		t.Fatalf("Keys = %q", tk)
	}
	must(t, c.Set("keep", Table{}))
	if keys, _ := d.Keys(); len(keys) != 0 {
		t.Fatalf("Set of an empty table left %q", keys)
	}
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 1)}))
	must(t, c.Drop())
	if keys, _ := d.Keys(); len(keys) != 0 {
		t.Fatalf("Drop left %q", keys)
	}
	must(t, c.Close())
	if _, err := c.Get("t"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestColumnsRaggedStoredIsCorrupt(t *testing.T) {
	d := partd.NewDict()
	c := NewColumns(d)
	must(t, c.Append(map[string]Table{"t": sampleTable(0, 3)}))
	must(t, Numeric[int64](d).Append(map[string][]int64{"t/id": {99}}))
	if _, err := c.Get("t"); !errors.Is(err, partd.ErrCorrupt) {
		t.Fatalf("columns of different lengths: err = %v, want ErrCorrupt", err)
	}
}

func TestColumnsNothingWrittenOnConflict(t *testing.T) {
	d := partd.NewDict()
	c := NewColumns(d)
	two := Table{Columns: []Column{{"u", []int64{1}}}}
	// Table t's column u is the key t/u, which table t/u needs as a parent.
	if err := c.Append(map[string]Table{"t": two, "t/u": two}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("t with column u and table t/u: err = %v", err)
	}
	wantInnerKeys(t, d)
	must(t, Numeric[int64](d).Append(map[string][]int64{"z": {1}}))
	if err := c.Append(map[string]Table{"new": two, "z/w": two}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("table under a stored key: err = %v", err)
	}
	wantInnerKeys(t, d, "z", "z.dtype")
	must(t, d.Append(map[string][]byte{"s/u/deep": []byte("x")}))
	if err := c.Set("s", two); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set of a table whose column conflicts: err = %v", err)
	}
	wantInnerKeys(t, d, "s/u/deep", "z", "z.dtype")
}

func TestColumnsNest(t *testing.T) {
	c := NewColumns(partd.NewDict())
	must(t, c.Append(map[string]Table{"x": sampleTable(0, 2), "x/y": sampleTable(5, 6)}))
	if keys, _ := c.Keys(); !slices.Equal(keys, []string{"x", "x/y"}) {
		t.Fatalf("Keys = %q", keys)
	}
	must(t, c.Delete("x"))
	got, err := c.Get("x", "x/y")
	must(t, err)
	if got[0].Len() != 0 || !reflect.DeepEqual(got[1], sampleTable(5, 6)) {
		t.Fatalf("after Delete(x): %+v", got)
	}
	// A column named like the nested table's last part conflicts.
	err = c.Append(map[string]Table{"x": {Columns: []Column{{"y", []int64{1}}}}})
	if !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("column y of x beside table x/y: err = %v", err)
	}
}
