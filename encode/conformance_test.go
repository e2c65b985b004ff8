package encode

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/partdtest"
)

// jsonCodec is a custom Codec: a JSON array per frame.
type jsonCodec[E any] struct{}

func (jsonCodec[E]) Encode(v []E) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return json.Marshal(v)
}

func (jsonCodec[E]) Decode(b []byte) ([]E, error) {
	var v []E
	err := json.Unmarshal(b, &v)
	return v, err
}

func (jsonCodec[E]) Join(parts [][]E) []E { return joinSlices(parts) }

// Row is a struct element for Msgpack tests.
type Row struct {
	ID    int64    `msgpack:"id"`
	Name  string   `msgpack:"name"`
	Score float64  `msgpack:"score"`
	Tags  []string `msgpack:"tags"`
	Blob  []byte   `msgpack:"blob"`
	OK    bool     `msgpack:"ok"`
}

func mkRow(i int) Row {
	return Row{ID: int64(i), Name: "row-" + strconv.Itoa(i), Score: float64(i) / 4, Tags: []string{"t", strconv.Itoa(i % 7)}, Blob: []byte{byte(i), 0, 0xff}, OK: i%2 == 0}
}

// stores are the inner stores each suite runs over.
var stores = []struct {
	name string
	open func(t *testing.T) partd.Store
}{
	{"Dict", func(t *testing.T) partd.Store { return partd.NewDict() }},
	{"Buffer", func(t *testing.T) partd.Store { return partd.NewBuffer(partd.NewDict(), partd.NewDict(), 256) }},
	{"File", func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		must(t, err)
		return f
	}},
}

// onFileToo are the suites that run over File as well as Dict and Buffer;
// the others differ from them only in element type, which File never sees.
var onFileToo = map[string]bool{"Msgpack[Row]": true, "Msgpack[any]": true, "Numeric[int64]": true, "Columns": true, "Custom[json]": true}

func TestConformance(t *testing.T) {
	for _, in := range stores {
		t.Run(in.name, func(t *testing.T) {
			run := t.Run
			if in.name == "File" {
				run = func(name string, f func(t *testing.T)) bool {
					if !onFileToo[name] {
						return true
					}
					return t.Run(name, f)
				}
			}
			run("Msgpack[int64]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[int64]{
					Open: func(t *testing.T) partdtest.SliceStore[int64] { return Msgpack[int64](in.open(t)) },
					Make: func(i int) int64 { return int64(i)*1_000_003 - 5 },
					ID:   func(e int64) int { return int((e + 5) / 1_000_003) },
				})
			})
			run("Msgpack[string]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[string]{
					Open: func(t *testing.T) partdtest.SliceStore[string] { return Msgpack[string](in.open(t)) },
					Make: func(i int) string { return "v" + strconv.Itoa(i) },
					ID:   func(e string) int { n, _ := strconv.Atoi(e[1:]); return n },
				})
			})
			run("Msgpack[Row]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[Row]{
					Open: func(t *testing.T) partdtest.SliceStore[Row] { return Msgpack[Row](in.open(t)) },
					Make: mkRow,
					ID:   func(r Row) int { return int(r.ID) },
				})
			})
			run("Msgpack[any]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[any]{
					Open: func(t *testing.T) partdtest.SliceStore[any] { return Msgpack[any](in.open(t)) },
					Make: func(i int) any { return map[string]any{"id": int64(i), "b": []byte("x")} },
					ID:   func(e any) int { return int(e.(map[string]any)["id"].(int64)) },
				})
			})
			run("Numeric[int64]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[int64]{
					Open: func(t *testing.T) partdtest.SliceStore[int64] { return Numeric[int64](in.open(t)) },
					Make: func(i int) int64 { return int64(i) << 20 },
					ID:   func(e int64) int { return int(e >> 20) },
				})
			})
			run("Numeric[float64]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[float64]{
					Open: func(t *testing.T) partdtest.SliceStore[float64] { return Numeric[float64](in.open(t)) },
					Make: func(i int) float64 { return float64(i) + 0.5 },
					ID:   func(e float64) int { return int(e) },
				})
			})
			run("Numeric[int16]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[int16]{
					Open: func(t *testing.T) partdtest.SliceStore[int16] { return Numeric[int16](in.open(t)) },
					Make: func(i int) int16 { return int16(i) },
					ID:   func(e int16) int { return int(e) },
				})
			})
			run("Columns", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[int64]{
					Open:  func(t *testing.T) partdtest.SliceStore[int64] { return oneColumn{NewColumns(in.open(t))} },
					Make:  func(i int) int64 { return int64(i) },
					ID:    func(e int64) int { return int(e) },
					Nests: true,
				})
			})
			run("Custom[json]", func(t *testing.T) {
				partdtest.RunSlices(t, partdtest.Slices[int]{
					Open: func(t *testing.T) partdtest.SliceStore[int] { return New[[]int](in.open(t), jsonCodec[int]{}) },
					Make: func(i int) int { return i },
					ID:   func(e int) int { return e },
				})
			})
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// oneColumn presents Columns as a Store of []int64: each value is a table
// with one int64 column "v" (and a float64 copy "f", so that every append
// writes two columns).
type oneColumn struct{ c *Columns }

func oneTable(v []int64) Table {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return Table{Columns: []Column{{"v", v}, {"f", f}}}
}

func (o oneColumn) Append(data map[string][]int64) error {
	tables := make(map[string]Table, len(data))
	for k, v := range data {
		tables[k] = oneTable(v)
	}
	return o.c.Append(tables)
}

func (o oneColumn) Get(keys ...string) ([][]int64, error) {
	tables, err := o.c.Get(keys...)
	if err != nil {
		return nil, err
	}
	out := make([][]int64, len(tables))
	for i, t := range tables {
		if v, ok := t.Column("v"); ok {
			out[i] = v.([]int64)
		}
		if f, ok := t.Column("f"); ok && len(f.([]float64)) != len(out[i]) {
			return nil, fmt.Errorf("columns of %q differ in length", keys[i])
		}
	}
	return out, nil
}

func (o oneColumn) Set(key string, v []int64) error { return o.c.Set(key, oneTable(v)) }
func (o oneColumn) Delete(keys ...string) error     { return o.c.Delete(keys...) }
func (o oneColumn) Keys() ([]string, error)         { return o.c.Keys() }
func (o oneColumn) Drop() error                     { return o.c.Drop() }
func (o oneColumn) Close() error                    { return o.c.Close() }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
