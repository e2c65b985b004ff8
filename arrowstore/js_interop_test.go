package arrowstore_test

// A second Arrow implementation reads a key's bytes as they are stored:
// apache-arrow for JavaScript (testdata/js/read.mjs, with the packages that
// testdata/js/package-lock.json pins, which scripts/npm-deps.sh installs)
// reads the concatenated IPC streams that arrowstore wrote to a partd.Log,
// and the test compares what it read, stream by stream, with the batches
// that went in: the schema (names, types, nullability), the batches and
// rows, and every value (a digest of each column's values, rendered alike
// on both sides; see read.mjs).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
)

// jsDir holds the reader script and the pinned npm packages.
const jsDir = "testdata/js"

// jsCodecError is what apache-arrow says of a compressed record batch when
// no codec is registered for its compression.
const jsCodecError = "Record batch is compressed but codec not found"

// jsInstall is what to run when node or the packages are missing.
const jsInstall = "run scripts/npm-deps.sh from the repository root (make deps runs it)"

// jsNode returns the path of node, after checking that the packages
// package.json pins are installed in testdata/js/node_modules at those
// versions. It fails the test, saying what to run, if not: this test never
// skips.
func jsNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): install Node.js and npm (Debian: apt-get install nodejs npm), then %s", err, jsInstall)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(jsDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("%s/package.json: %v", jsDir, err)
	}
	if len(pkg.Dependencies) == 0 {
		t.Fatalf("%s/package.json names no dependencies", jsDir)
	}
	for _, name := range slices.Sorted(maps.Keys(pkg.Dependencies)) {
		want := pkg.Dependencies[name]
		var got struct {
			Version string `json:"version"`
		}
		b, err := os.ReadFile(filepath.Join(jsDir, "node_modules", name, "package.json"))
		if err == nil {
			err = json.Unmarshal(b, &got)
		}
		switch {
		case err != nil:
			t.Fatalf("npm package %s@%s is not installed in arrowstore/%s/node_modules (%v): %s", name, want, jsDir, err, jsInstall)
		case got.Version != want:
			t.Fatalf("npm package %s is %s in arrowstore/%s/node_modules, package.json pins %s: %s", name, got.Version, jsDir, want, jsInstall)
		}
	}
	return node
}

// jsField, jsColumn, jsStream and jsOutput are what read.mjs prints.
type jsField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

type jsColumn struct {
	Nulls  int      `json:"nulls"`
	Digest string   `json:"digest"`
	Values []string `json:"values,omitempty"`
}

type jsStream struct {
	Fields  []jsField  `json:"fields"`
	Batches int        `json:"batches"`
	Rows    int        `json:"rows"`
	Columns []jsColumn `json:"columns"`
}

type jsOutput struct {
	Streams []jsStream `json:"streams"`
}

// jsRun runs read.mjs on file with args before it, and returns what it
// printed, or an error that holds its stderr.
func jsRun(t *testing.T, node, file string, args ...string) (*jsOutput, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append(append([]string{filepath.Join(jsDir, "read.mjs")}, args...), file)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	t.Logf("node read.mjs %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	var out jsOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("read.mjs printed %.200q: %v", stdout.String(), err)
	}
	return &out, nil
}

// jsStoreKey appends each element of appends to key through an arrowstore
// over a partd.Log, one Append each, and returns the key's bytes as the Log
// holds them, written to a file.
func jsStoreKey(t *testing.T, appends [][]arrow.RecordBatch, opts ...arrowstore.Option) string {
	t.Helper()
	log, err := partd.NewLog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := arrowstore.New(log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	const key = "part-00007"
	for _, recs := range appends {
		// Another key in the same Append: the key's bytes are its own.
		if err := s.Append(map[string][]arrow.RecordBatch{key: recs, "other": recs[:1]}); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := log.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), key+".arrows")
	if err := os.WriteFile(file, vals[0], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("key %s: %d bytes in %d streams", key, len(vals[0]), len(appends))
	return file
}

// jsExpect returns what read.mjs should print for the streams of appends,
// with every rendered value.
func jsExpect(appends [][]arrow.RecordBatch) *jsOutput {
	out := &jsOutput{}
	for _, recs := range appends {
		sc := recs[0].Schema()
		st := jsStream{Batches: len(recs)}
		for _, f := range sc.Fields() {
			st.Fields = append(st.Fields, jsField{Name: f.Name, Type: jsType(f.Type), Nullable: f.Nullable})
		}
		for _, rec := range recs {
			st.Rows += int(rec.NumRows())
		}
		for k := range sc.Fields() {
			h := sha256.New()
			var c jsColumn
			for _, rec := range recs {
				col := rec.Column(k)
				for i := 0; i < col.Len(); i++ {
					s := jsRender(col, i)
					if s == "null" {
						c.Nulls++
					}
					fmt.Fprintf(h, "%d:%s", len(s), s)
					c.Values = append(c.Values, s)
				}
			}
			c.Digest = hex.EncodeToString(h.Sum(nil))
			st.Columns = append(st.Columns, c)
		}
		out.Streams = append(out.Streams, st)
	}
	return out
}

// jsCompare reports every difference between what read.mjs printed for
// file (got) and want. Where a digest differs it runs read.mjs again with
// --values to name the first value that differs.
func jsCompare(t *testing.T, node, file string, got, want *jsOutput, args ...string) {
	t.Helper()
	if len(got.Streams) != len(want.Streams) {
		t.Fatalf("apache-arrow read %d streams, want %d", len(got.Streams), len(want.Streams))
	}
	var values *jsOutput // read.mjs --values, once needed
	for s, w := range want.Streams {
		g := got.Streams[s]
		if fmt.Sprint(g.Fields) != fmt.Sprint(w.Fields) {
			t.Errorf("stream %d: apache-arrow's schema\n\t%v\nwant\n\t%v", s, g.Fields, w.Fields)
			continue
		}
		if g.Batches != w.Batches || g.Rows != w.Rows {
			t.Errorf("stream %d: apache-arrow read %d batches of %d rows in all, want %d of %d", s, g.Batches, g.Rows, w.Batches, w.Rows)
		}
		if len(g.Columns) != len(w.Columns) {
			t.Errorf("stream %d: %d columns, want %d", s, len(g.Columns), len(w.Columns))
			continue
		}
		for k, wc := range w.Columns {
			gc := g.Columns[k]
			if gc.Nulls == wc.Nulls && gc.Digest == wc.Digest {
				continue
			}
			name := w.Fields[k].Name
			t.Errorf("stream %d column %s (%s): apache-arrow's values differ: %d nulls, digest %.12s; want %d nulls, digest %.12s",
				s, name, w.Fields[k].Type, gc.Nulls, gc.Digest, wc.Nulls, wc.Digest)
			if values == nil {
				var err error
				if values, err = jsRun(t, node, file, slices.Concat(args, []string{"--values"})...); err != nil {
					t.Fatal(err)
				}
			}
			gv := values.Streams[s].Columns[k].Values
			for i := range max(len(gv), len(wc.Values)) {
				var a, b string
				if i < len(gv) {
					a = gv[i]
				}
				if i < len(wc.Values) {
					b = wc.Values[i]
				}
				if a != b {
					t.Errorf("\trow %d: apache-arrow %q, want %q", i, a, b)
					break
				}
			}
		}
	}
}

// jsType is the name apache-arrow gives a type (its DataType.toString).
func jsType(dt arrow.DataType) string {
	unit := func(u arrow.TimeUnit) string {
		return [...]string{"SECOND", "MILLISECOND", "MICROSECOND", "NANOSECOND"}[u]
	}
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return fmt.Sprintf("Int%d", dt.(arrow.FixedWidthDataType).BitWidth())
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return fmt.Sprintf("Uint%d", dt.(arrow.FixedWidthDataType).BitWidth())
	case arrow.FLOAT32:
		return "Float32"
	case arrow.FLOAT64:
		return "Float64"
	case arrow.BOOL:
		return "Bool"
	case arrow.STRING:
		return "Utf8"
	case arrow.LARGE_STRING:
		return "LargeUtf8"
	case arrow.BINARY:
		return "Binary"
	case arrow.LARGE_BINARY:
		return "LargeBinary"
	case arrow.DATE32:
		return "Date32<DAY>"
	case arrow.TIMESTAMP:
		ts := dt.(*arrow.TimestampType)
		if ts.TimeZone == "" {
			return "Timestamp<" + unit(ts.Unit) + ">"
		}
		return "Timestamp<" + unit(ts.Unit) + ", " + ts.TimeZone + ">"
	case arrow.DECIMAL128:
		d := dt.(*arrow.Decimal128Type)
		sign := ""
		if d.Scale > 0 {
			sign = "+"
		}
		return fmt.Sprintf("Decimal[%de%s%d]", d.Precision, sign, d.Scale)
	case arrow.LIST:
		return "List<" + jsType(dt.(*arrow.ListType).Elem()) + ">"
	case arrow.STRUCT:
		var fs []string
		for _, f := range dt.(*arrow.StructType).Fields() {
			fs = append(fs, f.Name+":"+jsType(f.Type))
		}
		return "Struct<{" + strings.Join(fs, ", ") + "}>"
	case arrow.DICTIONARY:
		d := dt.(*arrow.DictionaryType)
		return "Dictionary<" + jsType(d.IndexType) + ", " + jsType(d.ValueType) + ">"
	}
	panic("jsType: no apache-arrow name for " + dt.String())
}

// jsRender renders value i of a as read.mjs renders it: integers in
// decimal, floats as the hex of their bits ("NaN" for any NaN), booleans
// as true or false, strings after a '"', binary in hex, dates as days,
// timestamps as the stored count of their unit, decimals as the unscaled
// integer, lists as [v,v], structs as {v,v}, a dictionary's values as
// the values they index, and NULL as null.
func jsRender(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	switch a := a.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Float32:
		if v := a.Value(i); v != v {
			return "NaN"
		}
		return fmt.Sprintf("%08x", math.Float32bits(a.Value(i)))
	case *array.Float64:
		if v := a.Value(i); v != v {
			return "NaN"
		}
		return fmt.Sprintf("%016x", math.Float64bits(a.Value(i)))
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.String:
		return `"` + a.Value(i)
	case *array.LargeString:
		return `"` + a.Value(i)
	case *array.Binary:
		return hex.EncodeToString(a.Value(i))
	case *array.LargeBinary:
		return hex.EncodeToString(a.Value(i))
	case *array.Date32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Timestamp:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Decimal128:
		return a.Value(i).BigInt().String()
	case *array.List:
		start, end := a.ValueOffsets(i)
		items := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			items = append(items, jsRender(a.ListValues(), int(j)))
		}
		return "[" + strings.Join(items, ",") + "]"
	case *array.Struct:
		fs := make([]string, a.NumField())
		for k := range fs {
			fs[k] = jsRender(a.Field(k), i)
		}
		return "{" + strings.Join(fs, ",") + "}"
	case *array.Dictionary:
		return jsRender(a.Dictionary(), a.GetValueIndex(i))
	}
	panic(fmt.Sprintf("jsRender: no rendering for %T", a))
}

// jsManyTypesSchema has a column of each type the test writes, every one
// nullable but id.
var jsManyTypesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "text", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "large_blob", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
	{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "+05:30"}, Nullable: true},
	{Name: "price", Type: &arrow.Decimal128Type{Precision: 38, Scale: 9}, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "point", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
	{Name: "city", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
}, nil)

// jsStrings are some of the strings the test writes: empty, non-ASCII,
// quotes, separators and control characters.
var jsStrings = []string{"", "a", "Zürich", "東京", "🦀 crab", `"quoted", comma`, "line\nbreak\ttab", "null", "\x00nul", strings.Repeat("long ", 40)}

// jsCities are the values of the dictionary column; each batch indexes
// a different slice of them, so later batches replace the dictionary.
var jsCities = []string{"Lyon", "Oslo", "Lima", "Pune", "Kyiv", "Cusco", "Perth", "Tunis"}

// jsManyTypes returns a batch of n rows of jsManyTypesSchema, with NULLs
// in every nullable column, extreme values among random ones, and its
// ids from id0 on.
func jsManyTypes(t *testing.T, mem memory.Allocator, rng *rand.Rand, id0, n int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, jsManyTypesSchema)
	defer b.Release()
	null := func() bool { return rng.IntN(7) == 0 }
	// edge picks one of the extreme values now and then.
	edge := func(vals ...any) any {
		if rng.IntN(5) == 0 {
			return vals[rng.IntN(len(vals))]
		}
		return nil
	}
	randBytes := func(max int) []byte {
		p := make([]byte, rng.IntN(max+1))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	cities := jsCities[rng.IntN(3):][:4+rng.IntN(3)]
	for r := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(id0 + r))
		for k := 1; k < len(jsManyTypesSchema.Fields()); k++ {
			fb := b.Field(k)
			if null() {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int8Builder:
				v, ok := edge(int8(math.MinInt8), int8(math.MaxInt8), int8(0)).(int8)
				if !ok {
					v = int8(rng.Uint32())
				}
				fb.Append(v)
			case *array.Int16Builder:
				v, ok := edge(int16(math.MinInt16), int16(math.MaxInt16), int16(-1)).(int16)
				if !ok {
					v = int16(rng.Uint32())
				}
				fb.Append(v)
			case *array.Int32Builder:
				v, ok := edge(int32(math.MinInt32), int32(math.MaxInt32), int32(-1)).(int32)
				if !ok {
					v = int32(rng.Uint32())
				}
				fb.Append(v)
			case *array.Int64Builder:
				v, ok := edge(int64(math.MinInt64), int64(math.MaxInt64), int64(1<<53+1), int64(-1<<53-1)).(int64)
				if !ok {
					v = int64(rng.Uint64())
				}
				fb.Append(v)
			case *array.Uint8Builder:
				v, ok := edge(uint8(math.MaxUint8), uint8(0)).(uint8)
				if !ok {
					v = uint8(rng.Uint32())
				}
				fb.Append(v)
			case *array.Uint16Builder:
				v, ok := edge(uint16(math.MaxUint16), uint16(0)).(uint16)
				if !ok {
					v = uint16(rng.Uint32())
				}
				fb.Append(v)
			case *array.Uint32Builder:
				v, ok := edge(uint32(math.MaxUint32), uint32(1<<31)).(uint32)
				if !ok {
					v = rng.Uint32()
				}
				fb.Append(v)
			case *array.Uint64Builder:
				v, ok := edge(uint64(math.MaxUint64), uint64(1<<63), uint64(1<<53+1)).(uint64)
				if !ok {
					v = rng.Uint64()
				}
				fb.Append(v)
			case *array.Float32Builder:
				v, ok := edge(float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32)).(float32)
				if !ok {
					v = float32(rng.NormFloat64() * 1e3)
				}
				fb.Append(v)
			case *array.Float64Builder:
				v, ok := edge(math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1).(float64)
				if !ok {
					v = rng.NormFloat64() * 1e6
				}
				fb.Append(v)
			case *array.BooleanBuilder:
				fb.Append(rng.IntN(2) == 0)
			case *array.StringBuilder:
				fb.Append(jsStrings[rng.IntN(len(jsStrings))])
			case *array.LargeStringBuilder:
				fb.Append(jsStrings[rng.IntN(len(jsStrings))] + strconv.Itoa(r))
			case *array.BinaryBuilder:
				fb.Append(randBytes(24))
			case *array.Date32Builder:
				// From 1900 to 2100, and the epoch's neighbours.
				v, ok := edge(arrow.Date32(0), arrow.Date32(-1)).(arrow.Date32)
				if !ok {
					v = arrow.Date32(rng.IntN(73000) - 25567)
				}
				fb.Append(v)
			case *array.TimestampBuilder:
				// Within ±146 years of the epoch in every unit (nanoseconds
				// reach 2262), and exact beyond float precision.
				unit := fb.Type().(*arrow.TimestampType).Unit
				span := int64(146 * 365 * 86400)
				for range unit {
					span *= 1000
				}
				v, ok := edge(arrow.Timestamp(0), arrow.Timestamp(-1), arrow.Timestamp(1<<53+1)).(arrow.Timestamp)
				if !ok {
					v = arrow.Timestamp(rng.Int64N(2*span) - span)
				}
				fb.Append(v)
			case *array.Decimal128Builder:
				// Up to 38 digits, either sign.
				digits := 1 + rng.IntN(38)
				v := new(big.Int)
				for range digits {
					v.Mul(v, big.NewInt(10))
					v.Add(v, big.NewInt(rng.Int64N(10)))
				}
				if rng.IntN(2) == 0 {
					v.Neg(v)
				}
				fb.Append(decimal128.FromBigInt(v))
			case *array.ListBuilder:
				fb.Append(true)
				vb := fb.ValueBuilder().(*array.Int32Builder)
				for range rng.IntN(5) {
					if null() {
						vb.AppendNull()
					} else {
						vb.Append(int32(rng.Uint32()))
					}
				}
			case *array.StructBuilder:
				fb.Append(true)
				x := fb.FieldBuilder(0).(*array.Float64Builder)
				label := fb.FieldBuilder(1).(*array.StringBuilder)
				if null() {
					x.AppendNull()
				} else {
					x.Append(rng.Float64())
				}
				if null() {
					label.AppendNull()
				} else {
					label.Append(jsStrings[rng.IntN(len(jsStrings))])
				}
			case *array.BinaryDictionaryBuilder:
				if err := fb.AppendString(cities[rng.IntN(len(cities))]); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("jsManyTypes: no values for %T", fb)
			}
		}
	}
	return b.NewRecordBatch()
}

// jsBatches makes one Append's batches: a batch of each size of rows.
func jsBatches(t *testing.T, mem memory.Allocator, rng *rand.Rand, id0 *int, rows ...int) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	for _, n := range rows {
		rec := jsManyTypes(t, mem, rng, *id0, n)
		t.Cleanup(rec.Release)
		recs = append(recs, rec)
		*id0 += n
	}
	return recs
}

// jsManyTypesAppends returns the batches of several Appends to one key,
// of a few thousand rows in all.
func jsManyTypesAppends(t *testing.T, seed uint64) [][]arrow.RecordBatch {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	rng := rand.New(rand.NewPCG(seed, 18))
	id := 0
	return [][]arrow.RecordBatch{
		jsBatches(t, mem, rng, &id, 1500, 1, 700),
		jsBatches(t, mem, rng, &id, 2000),
		jsBatches(t, mem, rng, &id, 3, 999, 64),
	}
}

// TestJSReadsConcatenatedStreams: apache-arrow reads a key that three
// Appends wrote through a Log, as three streams, and every schema, row
// and value is what went in: integers of every width with their extremes,
// floats (with NaN, infinities, -0), bools, utf8 and large_utf8, binary
// and large_binary, date32, timestamps of the four units with and
// without a time zone, decimal128, a list, a struct and a dictionary
// that each batch replaces, NULLs in each.
func TestJSReadsConcatenatedStreams(t *testing.T) {
	t.Parallel()
	node := jsNode(t)
	appends := jsManyTypesAppends(t, 1)
	file := jsStoreKey(t, appends)
	got, err := jsRun(t, node, file)
	if err != nil {
		t.Fatal(err)
	}
	jsCompare(t, node, file, got, jsExpect(appends))
}

// jsLargeAppends returns the batches of 2 Appends to one key, 4 batches
// of rows rows each, of 3 columns: int64 ids, float64 and utf8 with NULLs.
func jsLargeAppends(t *testing.T, rows int) [][]arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	rng := rand.New(rand.NewPCG(2, 18))
	appends := make([][]arrow.RecordBatch, 2)
	id := int64(0)
	for s := range appends {
		for range 4 {
			b := array.NewRecordBuilder(mem, sc)
			ids := b.Field(0).(*array.Int64Builder)
			xs := b.Field(1).(*array.Float64Builder)
			ss := b.Field(2).(*array.StringBuilder)
			for range rows {
				ids.Append(id)
				if id%11 == 0 {
					xs.AppendNull()
				} else {
					xs.Append(rng.NormFloat64())
				}
				if id%13 == 0 {
					ss.AppendNull()
				} else {
					ss.Append("row-" + strconv.FormatInt(id, 36))
				}
				id++
			}
			rec := b.NewRecordBatch()
			b.Release()
			t.Cleanup(rec.Release)
			appends[s] = append(appends[s], rec)
		}
	}
	return appends
}

// TestJSReadsLargeKey: 200,000 rows of 3 columns in 2 streams of 4
// batches each.
func TestJSReadsLargeKey(t *testing.T) {
	t.Parallel()
	node := jsNode(t)
	appends := jsLargeAppends(t, 25000)
	file := jsStoreKey(t, appends)
	got, err := jsRun(t, node, file)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, st := range got.Streams {
		rows += st.Rows
	}
	if rows != 200000 {
		t.Errorf("apache-arrow read %d rows, want 200000", rows)
	}
	jsCompare(t, node, file, got, jsExpect(appends))
}

// TestJSCompressed: a key written with IPC body compression is read by
// apache-arrow only with a codec registered (read.mjs --codecs: fzstd for
// ZSTD, lz4js for LZ4_FRAME), and then every value is what went in.
// Without one, apache-arrow refuses the stream at its first compressed
// message: why arrowstore writes uncompressed bodies unless WithCompression
// asks.
func TestJSCompressed(t *testing.T) {
	t.Parallel()
	node := jsNode(t)
	codecs := "--codecs=zstd,lz4"
	for _, c := range []arrowstore.Compression{arrowstore.Zstd, arrowstore.LZ4Frame} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name    string
				appends [][]arrow.RecordBatch
				refusal string // apache-arrow's error without a codec
			}{
				// The first compressed message is a record batch.
				{"3 columns", jsLargeAppends(t, 500), jsCodecError},
				// The first is the dictionary column's dictionary batch.
				{"many types", jsManyTypesAppends(t, 3), "Dictionary batch is compressed but codec not found"},
			} {
				file := jsStoreKey(t, tc.appends, arrowstore.WithCompression(c))
				plain := jsStoreKey(t, tc.appends)
				if a, b := jsFileSize(t, file), jsFileSize(t, plain); a >= b {
					t.Errorf("%s: %s key is %d bytes, uncompressed %d: not compressed?", tc.name, c, a, b)
				}

				_, err := jsRun(t, node, file)
				if err == nil || !strings.Contains(err.Error(), tc.refusal) {
					t.Errorf("%s: apache-arrow without a codec read a %s key: err = %v, want %q", tc.name, c, err, tc.refusal)
				}

				got, err := jsRun(t, node, file, codecs)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				jsCompare(t, node, file, got, jsExpect(tc.appends), codecs)
			}
		})
	}
}

func jsFileSize(t *testing.T, file string) int64 {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
