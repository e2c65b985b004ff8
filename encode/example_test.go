package encode_test

import (
	"fmt"
	"strings"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/encode"
)

// Order is one row of a shuffle.
type Order struct {
	ID    int64   `msgpack:"id"`
	Item  string  `msgpack:"item"`
	Price float64 `msgpack:"price"`
}

// Msgpack layers nest over any store: here a Buffer that spills from one
// in-memory store to another once it holds more than 64 bytes.
func ExampleMsgpack() {
	buf := partd.NewBuffer(partd.NewDict(), partd.NewDict(), 64)
	orders := encode.Msgpack[Order](buf)
	defer orders.Close() // closes buf too

	orders.Append(map[string][]Order{
		"part-1": {{1, "apple", 0.5}, {2, "pear", 0.75}},
		"part-2": {{3, "fig", 2}},
	})
	orders.Append(map[string][]Order{"part-1": {{4, "plum", 1.25}}})

	got, err := orders.Get("part-1", "part-2", "part-3")
	if err != nil {
		panic(err)
	}
	for i, part := range got {
		fmt.Println(i, part)
	}
	// Output:
	// 0 [{1 apple 0.5} {2 pear 0.75} {4 plum 1.25}]
	// 1 [{3 fig 2}]
	// 2 []
}

// Numeric stores numbers as partd.Numpy does: raw little-endian bytes and
// the numpy dtype under key+".dtype".
func ExampleNumeric() {
	d := partd.NewDict()
	temps := encode.Numeric[float32](d)
	temps.Append(map[string][]float32{"sensor/7": {20.5, 21}})
	temps.Append(map[string][]float32{"sensor/7": {21.5}})

	got, _ := temps.Get("sensor/7")
	fmt.Println(got[0])
	keys, _ := d.Keys()
	fmt.Println(keys)
	dtype, _ := d.Get("sensor/7.dtype")
	fmt.Printf("%s\n", dtype[0])

	// Appending another type to the key is refused.
	err := encode.Numeric[int64](d).Append(map[string][]int64{"sensor/7": {1}})
	fmt.Println(err != nil && strings.Contains(err.Error(), "<f4"))
	// Output:
	// [20.5 21 21.5]
	// [sensor/7 sensor/7.dtype]
	// <f4
	// true
}

// Columns reads only the columns asked for.
func ExampleColumns() {
	tables := encode.NewColumns(partd.NewDict())
	tables.Append(map[string]encode.Table{"sales": {Columns: []encode.Column{
		{Name: "id", Data: []int64{1, 2, 3}},
		{Name: "city", Data: []string{"Oslo", "Lima", "Pune"}},
		{Name: "amount", Data: []float64{9.5, 3, 12.25}},
	}}})

	got, _ := tables.GetColumns([]string{"amount", "city"}, "sales")
	for _, col := range got[0].Columns {
		fmt.Println(col.Name, col.Data)
	}
	schema, _ := tables.Schema("sales")
	fmt.Println(schema)
	// Output:
	// amount [9.5 3 12.25]
	// city [Oslo Lima Pune]
	// [{id int64} {city string} {amount float64}]
}

// lines is a custom Codec: newline-separated text.
type lines struct{}

func (lines) Encode(v []string) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return []byte(strings.Join(v, "\n")), nil
}
func (lines) Decode(b []byte) ([]string, error) { return strings.Split(string(b), "\n"), nil }
func (lines) Join(parts [][]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// New wraps any store in a custom codec; one frame per appended value.
func ExampleNew() {
	logs := encode.New[[]string](partd.NewDict(), lines{})
	logs.Append(map[string][]string{"app": {"start", "ready"}})
	logs.Append(map[string][]string{"app": {"stop"}})
	got, _ := logs.Get("app")
	fmt.Printf("%q\n", got[0])
	// Output: ["start" "ready" "stop"]
}
