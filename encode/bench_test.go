package encode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/gopartd/partd"
)

// BenchRow is the row of the Msgpack benchmarks (and of testdata/bench.py).
type BenchRow struct {
	ID    int64   `msgpack:"id"`
	Name  string  `msgpack:"name"`
	Score float64 `msgpack:"score"`
	OK    bool    `msgpack:"ok"`
}

const (
	benchKeys        = 100 // keys per Append batch
	benchRowsPerKey  = 100 // rows per key per Append
	benchAppendsRead = 10  // appends per key before a Get benchmark
)

func benchRows(n, seed int) []BenchRow {
	rows := make([]BenchRow, n)
	for i := range rows {
		j := seed*n + i
		rows[i] = BenchRow{ID: int64(j), Name: "name-" + strconv.Itoa(j), Score: float64(j) * 0.5, OK: j%3 == 0}
	}
	return rows
}

func benchBatch(seed int) map[string][]BenchRow {
	batch := make(map[string][]BenchRow, benchKeys)
	for k := range benchKeys {
		batch["key-"+strconv.Itoa(k)] = benchRows(benchRowsPerKey, seed+k)
	}
	return batch
}

// encodedSize is the msgpack size of a batch, for SetBytes.
func encodedSize(batch map[string][]BenchRow) int64 {
	var n int64
	for _, v := range batch {
		b, _ := MsgpackCodec[BenchRow]{}.Encode(v)
		n += int64(len(b))
	}
	return n
}

// BenchmarkMsgpackAppend appends batches of 100 keys x 100 rows to a Dict.
func BenchmarkMsgpackAppend(b *testing.B) {
	batch := benchBatch(0)
	b.SetBytes(encodedSize(batch))
	b.ReportAllocs()
	m := Msgpack[BenchRow](partd.NewDict())
	for i := 0; b.Loop(); i++ {
		if i%50 == 49 {
			b.StopTimer()
			m.Drop()
			b.StartTimer()
		}
		if err := m.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMsgpackGet gets 100 keys of 10 appends x 100 rows each.
func BenchmarkMsgpackGet(b *testing.B) {
	m := Msgpack[BenchRow](partd.NewDict())
	var size int64
	for i := range benchAppendsRead {
		batch := benchBatch(i * benchKeys)
		size += encodedSize(batch)
		if err := m.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	keys, _ := m.Keys()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		got, err := m.Get(keys...)
		if err != nil || len(got[0]) != benchAppendsRead*benchRowsPerKey {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeBatch measures parallel encoding: one goroutine
// ("serial"), two from the start ("parallel"), and Append's rule, two
// after parallelAfter ("adaptive"). Measured: parallel encoding gained
// 1.4-2x on 2 idle cores for batches of 8 or more values of 100 rows, and
// lost for small batches.
func BenchmarkEncodeBatch(b *testing.B) {
	enc := New[[]BenchRow](nil, MsgpackCodec[BenchRow]{}).encodeFrame
	modes := []struct {
		name    string
		workers int
		after   time.Duration
	}{{"serial", 1, 0}, {"parallel", 2, 0}, {"adaptive", 2, parallelAfter}}
	for _, rows := range []int{10, 100} {
		for _, keys := range []int{2, 8, 16, 64, 1000} {
			batch := make(map[string][]BenchRow, keys)
			for k := range keys {
				batch[strconv.Itoa(k)] = benchRows(rows, k)
			}
			for _, m := range modes {
				b.Run(fmt.Sprintf("rows=%d/keys=%d/%s", rows, keys, m.name), func(b *testing.B) {
					b.SetBytes(encodedSize(batch))
					b.ReportAllocs()
					for b.Loop() {
						out, err := encodeBatchAfter(batch, enc, m.workers, m.after)
						if err != nil {
							b.Fatal(err)
						}
						for _, v := range out {
							putBuf(v)
						}
					}
				})
			}
		}
	}
}

const numericLen = 1 << 17 // float64s per key: 1 MiB

func numericBatch(keys int) map[string][]float64 {
	batch := make(map[string][]float64, keys)
	for k := range keys {
		v := make([]float64, numericLen)
		for i := range v {
			v[i] = float64(i*k) * 0.25
		}
		batch["key-"+strconv.Itoa(k)] = v
	}
	return batch
}

// BenchmarkNumericAppend appends 8 keys x 1 MiB of float64 to a Dict.
func BenchmarkNumericAppend(b *testing.B) {
	batch := numericBatch(8)
	b.SetBytes(8 * numericLen * 8)
	b.ReportAllocs()
	n := Numeric[float64](partd.NewDict())
	for i := 0; b.Loop(); i++ {
		if i%32 == 31 {
			b.StopTimer()
			n.Drop()
			b.StartTimer()
		}
		if err := n.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNumericGet gets 8 keys x 4 MiB of float64 from a Dict.
func BenchmarkNumericGet(b *testing.B) {
	n := Numeric[float64](partd.NewDict())
	batch := numericBatch(8)
	for range 4 {
		if err := n.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	keys, _ := n.Keys()
	b.SetBytes(4 * 8 * numericLen * 8)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Get(keys...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyBaseline copies the bytes BenchmarkNumericAppend appends
// into fresh memory: the floor for any store that keeps a copy.
func BenchmarkCopyBaseline(b *testing.B) {
	batch := numericBatch(8)
	b.SetBytes(8 * numericLen * 8)
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range batch {
			dst := make([]float64, len(v))
			copy(dst, v)
		}
	}
}

// BenchmarkNumsFrom compares the zero-copy []byte -> []float64 view with a
// copying conversion, on 8 MiB.
func BenchmarkNumsFrom(b *testing.B) {
	raw := make([]byte, 8<<20)
	b.Run("view", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			_ = numsFrom[float64](raw)
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			out := make([]float64, len(raw)/8)
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), len(raw)), raw)
		}
	})
}

// wideTable is a table of 40 float64 columns of rows rows.
func wideTable(rows int) Table {
	var t Table
	for c := range 40 {
		v := make([]float64, rows)
		for i := range v {
			v[i] = float64(i + c)
		}
		t.Columns = append(t.Columns, Column{Name: "c" + strconv.Itoa(c), Data: v})
	}
	return t
}

// BenchmarkColumnsGet reads 2 of 40 columns and all 40, over Dict and
// File, of a table of 40 x 64 Ki float64 (20 MiB). MB/s counts the bytes
// returned; compare ns/op.
func BenchmarkColumnsGet(b *testing.B) {
	const rows = 1 << 16
	for _, inner := range []string{"Dict", "File"} {
		var st partd.Store = partd.NewDict()
		if inner == "File" {
			f, err := partd.NewFile(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			st = f
		}
		c := NewColumns(st)
		if err := c.Append(map[string]Table{"t": wideTable(rows)}); err != nil {
			b.Fatal(err)
		}
		for _, cols := range []int{2, 40} {
			var names []string
			for i := range cols {
				names = append(names, "c"+strconv.Itoa(i*40/cols))
			}
			b.Run(fmt.Sprintf("%s/%d-of-40", inner, cols), func(b *testing.B) {
				b.SetBytes(int64(cols * rows * 8))
				b.ReportAllocs()
				for b.Loop() {
					got, err := c.GetColumns(names, "t")
					if err != nil || len(got[0].Columns) != cols {
						b.Fatal(err)
					}
				}
			})
		}
		c.Close()
	}
}

// BenchmarkDictAppendBaseline appends the bytes of BenchmarkNumericAppend
// to a Dict directly: the cost of the inner store alone.
func BenchmarkDictAppendBaseline(b *testing.B) {
	batch := make(map[string][]byte)
	for k, v := range numericBatch(8) {
		batch[k] = numBytes(v)
	}
	b.SetBytes(8 * numericLen * 8)
	b.ReportAllocs()
	d := partd.NewDict()
	for i := 0; b.Loop(); i++ {
		if i%32 == 31 {
			b.StopTimer()
			d.Drop()
			b.StartTimer()
		}
		if err := d.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPythonBaseline runs testdata/bench.py, Python partd's
// partd.Python and partd.Numpy over partd.Dict on the sizes of the
// benchmarks above, and reports the MB/s Python measured (without
// interpreter start-up), to compare with BenchmarkMsgpackAppend,
// BenchmarkMsgpackGet, BenchmarkNumericAppend and BenchmarkNumericGet in the
// same run.
func BenchmarkPythonBaseline(b *testing.B) {
	var sum map[string]float64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(python, "testdata/bench.py", "1")
		out, err := cmd.Output() // stderr: partd's Numpy.__del__ complains about Dict
		if err != nil {
			b.Fatalf("%v: %v", cmd, err)
		}
		var res map[string]float64
		if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
			b.Fatalf("%s: %v", out, err)
		}
		if sum == nil {
			sum = map[string]float64{}
		}
		for k, v := range res {
			sum[k] += v
		}
	}
	for _, k := range []string{"msgpack_append", "msgpack_get", "numpy_append", "numpy_get"} {
		b.ReportMetric(sum[k]/float64(b.N), k+"-MB/s")
	}
}
