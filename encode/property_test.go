package encode

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopartd/partd"
)

var seedFlag = flag.Uint64("encode.seed", 0, "seed for the round-trip property tests (0: from the clock)")

// newRand returns a generator and logs its seed, so a failure can be
// replayed with -encode.seed.
func newRand(t *testing.T) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -encode.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

func randString(r *rand.Rand) string {
	n := r.IntN(40)
	if r.IntN(10) == 0 {
		n = r.IntN(400)
	}
	b := make([]rune, n)
	for i := range b {
		switch r.IntN(3) {
		case 0:
			b[i] = rune('a' + r.IntN(26))
		case 1:
			b[i] = rune(r.IntN(0x80))
		default:
			b[i] = rune(r.IntN(0x10ffff))
			if !utf8.ValidRune(b[i]) {
				b[i] = 'ü'
			}
		}
	}
	return string(b)
}

func randBytes(r *rand.Rand) []byte {
	b := make([]byte, r.IntN(50))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randAny returns a value as Msgpack[any] decodes it.
func randAny(r *rand.Rand, depth int) any {
	k := r.IntN(10)
	if depth > 3 && k >= 8 {
		k = 0
	}
	switch k {
	case 0:
		return r.Int64() >> r.IntN(64)
	case 1:
		return uint64(math.MaxInt64) + 1 + r.Uint64()>>1
	case 2:
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) {
			f = 0.5
		}
		return f
	case 3:
		return randString(r)
	case 4:
		return randBytes(r)
	case 5:
		return r.IntN(2) == 0
	case 6:
		return nil
	case 7:
		return -r.Int64N(40)
	case 8:
		s := make([]any, r.IntN(5))
		for i := range s {
			s[i] = randAny(r, depth+1)
		}
		return s
	default:
		m := make(map[string]any)
		for range r.IntN(5) {
			m[randString(r)] = randAny(r, depth+1)
		}
		return m
	}
}

// roundTrip appends the chunks of each key in random batches through st
// and checks Get returns their concatenation.
func roundTrip[E any](t *testing.T, r *rand.Rand, st Store[[]E], gen func() E, eq func(a, b []E) bool) {
	t.Helper()
	want := map[string][]E{}
	keys := []string{"a", "b/c", "d", "ü", "e/f/g"}
	for range 40 {
		batch := map[string][]E{}
		for _, k := range keys {
			if r.IntN(2) == 0 {
				continue
			}
			v := make([]E, r.IntN(20))
			for i := range v {
				v[i] = gen()
			}
			batch[k] = v
			want[k] = append(want[k], v...)
		}
		must(t, st.Append(batch))
	}
	got, err := st.Get(keys...)
	must(t, err)
	for i, k := range keys {
		if !eq(got[i], want[k]) {
			t.Fatalf("key %q: got %d elements, want %d (or values differ)", k, len(got[i]), len(want[k]))
		}
	}
}

func deepEq[E any](a, b []E) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func TestRoundTripMsgpack(t *testing.T) {
	r := newRand(t)
	roundTrip(t, r, Msgpack[any](partd.NewDict()), func() any { return randAny(r, 0) }, deepEq[any])
	roundTrip(t, r, Msgpack[string](partd.NewDict()), func() string { return randString(r) }, deepEq[string])
	roundTrip(t, r, Msgpack[[]byte](partd.NewDict()), func() []byte { return randBytes(r) }, deepEq[[]byte])
	roundTrip(t, r, Msgpack[int64](partd.NewDict()), func() int64 { return r.Int64() >> r.IntN(64) }, deepEq[int64])
	roundTrip(t, r, Msgpack[uint8](partd.NewDict()), func() uint8 { return uint8(r.Uint32()) }, deepEq[uint8])
	roundTrip(t, r, Msgpack[float32](partd.NewDict()), func() float32 { return float32(r.NormFloat64()) }, deepEq[float32])
	roundTrip(t, r, Msgpack[Row](partd.NewDict()), func() Row { return mkRow(r.IntN(1 << 30)) }, deepEq[Row])
	roundTrip(t, r, New[[]int](partd.NewDict(), jsonCodec[int]{}), func() int { return r.Int() }, deepEq[int])
}

// numEq compares numbers bit for bit (NaNs included).
func numEq[N Number](a, b []N) bool { return bytes.Equal(numBytes(a), numBytes(b)) }

func randNum[N Number](r *rand.Rand) func() N {
	return func() N {
		var n N
		b := rawBytes(&n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return n
	}
}

func roundTripNumeric[N Number](t *testing.T, r *rand.Rand) {
	t.Run(fmt.Sprintf("%T", *new(N)), func(t *testing.T) {
		roundTrip(t, r, Numeric[N](partd.NewDict()), randNum[N](r), numEq[N])
	})
}

func TestRoundTripNumeric(t *testing.T) {
	r := newRand(t)
	roundTripNumeric[int8](t, r)
	roundTripNumeric[int16](t, r)
	roundTripNumeric[int32](t, r)
	roundTripNumeric[int64](t, r)
	roundTripNumeric[int](t, r)
	roundTripNumeric[uint8](t, r)
	roundTripNumeric[uint16](t, r)
	roundTripNumeric[uint32](t, r)
	roundTripNumeric[uint64](t, r)
	roundTripNumeric[uint](t, r)
	roundTripNumeric[float32](t, r)
	roundTripNumeric[float64](t, r)
}

// randColumn returns a column of type ct with n random values.
func randColumn(r *rand.Rand, ct *colType, n int) any {
	switch ct.name {
	case "string":
		v := make([]string, n)
		for i := range v {
			v[i] = randString(r)
		}
		return v
	case "bytes":
		v := make([][]byte, n)
		for i := range v {
			v[i] = randBytes(r)
		}
		return v
	}
	b := make([]byte, n*sizeOfDtype(ct.dtype))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	v, _ := ct.decode(b)
	if v == nil {
		v = ct.zero
	}
	return v
}

func sizeOfDtype(dt string) int {
	if dt == "|O" {
		return 0
	}
	n := 0
	fmt.Sscan(dt[2:], &n)
	return n
}

func TestRoundTripColumns(t *testing.T) {
	r := newRand(t)
	c := NewColumns(partd.NewDict())
	type tableSpec struct{ types []*colType }
	specs := map[string]tableSpec{}
	for _, k := range []string{"t1", "t2", "x/y"} {
		var s tableSpec
		for range 1 + r.IntN(len(colTypes)) {
			s.types = append(s.types, &colTypes[r.IntN(len(colTypes))])
		}
		specs[k] = s
	}
	want := map[string][]Table{}
	for range 20 {
		batch := map[string]Table{}
		for k, s := range specs {
			if r.IntN(2) == 0 {
				continue
			}
			n := r.IntN(30)
			var tab Table
			for i, ct := range s.types {
				tab.Columns = append(tab.Columns, Column{Name: fmt.Sprintf("c%d", i), Data: randColumn(r, ct, n)})
			}
			batch[k] = tab
			if n > 0 {
				want[k] = append(want[k], tab)
			}
		}
		must(t, c.Append(batch))
	}
	for k, parts := range want {
		got, err := c.Get(k)
		must(t, err)
		for ci, col := range got[0].Columns {
			// Concatenate the appended parts of this column.
			var wantCol []byte
			var wantObj []any
			for _, p := range parts {
				switch v := p.Columns[ci].Data.(type) {
				case []string:
					for _, s := range v {
						wantObj = append(wantObj, s)
					}
				case [][]byte:
					for _, s := range v {
						wantObj = append(wantObj, s)
					}
				default:
					ct, _ := typeOfData(v)
					b, _ := ct.encode(v)
					wantCol = append(wantCol, b...)
				}
			}
			switch v := col.Data.(type) {
			case []string:
				if !slices.Equal(v, typed[string](wantObj)) {
					t.Fatalf("%s/%s differs", k, col.Name)
				}
			case [][]byte:
				if !slices.EqualFunc(v, typed[[]byte](wantObj), bytes.Equal) {
					t.Fatalf("%s/%s differs", k, col.Name)
				}
			default:
				ct, _ := typeOfData(v)
				b, _ := ct.encode(v)
				if !bytes.Equal(b, wantCol) {
					t.Fatalf("%s/%s differs", k, col.Name)
				}
			}
		}
		// Every subset of two columns reads the same as the full table.
		if len(got[0].Columns) >= 2 {
			i, j := r.IntN(len(got[0].Columns)), r.IntN(len(got[0].Columns))
			if i != j {
				names := []string{got[0].Columns[i].Name, got[0].Columns[j].Name}
				sel, err := c.GetColumns(names, k)
				must(t, err)
				if !colEqual(sel[0].Columns[0], got[0].Columns[i]) || !colEqual(sel[0].Columns[1], got[0].Columns[j]) {
					t.Fatalf("%s: GetColumns(%q) differs from Get", k, names)
				}
			}
		}
	}
}

// colEqual compares columns by name and encoded bytes (NaNs included).
func colEqual(a, b Column) bool {
	ta, ok1 := typeOfData(a.Data)
	tb, ok2 := typeOfData(b.Data)
	if !ok1 || !ok2 || ta != tb || a.Name != b.Name {
		return false
	}
	ea, _ := ta.encode(a.Data)
	eb, _ := tb.encode(b.Data)
	return bytes.Equal(ea, eb)
}
