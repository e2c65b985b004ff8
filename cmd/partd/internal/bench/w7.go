package bench

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/gopartd/partd/internal/workload"
)

// W7Rows is W7's row count at scale 1.
const W7Rows = 10_000_000

// W7Partitions is how many partitions W7 shuffles its rows into.
const W7Partitions = 64

// w7Files is how many Parquet files hold W7's rows.
const w7Files = 4

// w7RowGroup is the rows of one Parquet row group of W7's inputs (DuckDB's
// default).
const w7RowGroup = 122_880

// W7Schema is W7's 8 columns (WORKLOADS.md).
var W7Schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tag", Type: arrow.BinaryTypes.String},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
}, nil)

// w7Hash is splitmix64's finalizer of row i salted by the column: W7's
// values are a pure function of the row number.
func w7Hash(i int64, salt uint64) uint64 {
	x := uint64(i)*0x9e3779b97f4a7c15 + salt*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// w7Epoch is 2024-01-01 in microseconds since 1970.
var w7Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

const hexDigits = "0123456789abcdef"

// W7Batch builds rows [from, to) of W7 as one record batch of W7Schema:
// id = i; key one of 200,000 values; tag "hot" for about 10% of rows, else
// one of 5,000 "tag-N"; x a float64; s 8 to 23 hex digits, NULL in every
// 13th row; ts a microsecond timestamp in 2024; flag a bool; n an int32,
// NULL in every 7th row.
func W7Batch(mem memory.Allocator, from, to int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, W7Schema)
	defer b.Release()
	n := int(to - from)
	for _, f := range b.Fields() {
		f.Reserve(n)
	}
	ids := b.Field(0).(*array.Int64Builder)
	keys := b.Field(1).(*array.Int64Builder)
	tags := b.Field(2).(*array.StringBuilder)
	xs := b.Field(3).(*array.Float64Builder)
	ss := b.Field(4).(*array.StringBuilder)
	ts := b.Field(5).(*array.TimestampBuilder)
	flags := b.Field(6).(*array.BooleanBuilder)
	ns := b.Field(7).(*array.Int32Builder)
	var tag, s []byte
	for i := from; i < to; i++ {
		ids.UnsafeAppend(i)
		keys.UnsafeAppend(int64(w7Hash(i, 1) % 200_000))
		if w7Hash(i, 2)%10 == 0 {
			tags.Append("hot")
		} else {
			tag = strconv.AppendUint(append(tag[:0], "tag-"...), w7Hash(i, 3)%5000, 10)
			tags.BinaryBuilder.Append(tag)
		}
		xs.UnsafeAppend(float64(w7Hash(i, 4)%1_000_000_000) / 1000)
		if i%13 == 0 {
			ss.AppendNull()
		} else {
			s = s[:0]
			for h, k := w7Hash(i, 5), 0; k < 8+int(i%16); k++ {
				if k == 16 {
					h = w7Hash(i, 6)
				}
				s = append(s, hexDigits[h&15])
				h >>= 4
			}
			ss.BinaryBuilder.Append(s)
		}
		ts.UnsafeAppend(arrow.Timestamp(w7Epoch + int64(w7Hash(i, 7)%31_536_000_000_000)))
		flags.UnsafeAppend(w7Hash(i, 8)%2 == 0)
		if i%7 == 0 {
			ns.UnsafeAppendBoolToBitmap(false)
		} else {
			ns.UnsafeAppend(int32(w7Hash(i, 9) % 1_000_000))
		}
	}
	return b.NewRecordBatch()
}

// W7Inputs returns the paths of W7's 4 Parquet files (zstd, row groups of
// 122,880 rows) holding rows rows in all, writing them into a cache
// directory under os.TempDir() named by the row count the first time.
func W7Inputs(rows int) ([]string, error) {
	return WriteW7(filepath.Join(os.TempDir(), fmt.Sprintf("partd-w7-go-%d-v1", rows)), rows, w7RowGroup)
}

// WriteW7 writes W7's rows rows into 4 Parquet files in dir (zstd, row
// groups of rowGroup rows), unless dir says it holds them already, and
// returns their paths.
func WriteW7(dir string, rows, rowGroup int) ([]string, error) {
	paths := make([]string, w7Files)
	for f := range paths {
		paths[f] = filepath.Join(dir, fmt.Sprintf("w7-%d.parquet", f))
	}
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
		return paths, nil
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	per := int64(rows / w7Files)
	for f, path := range paths {
		hi := (int64(f) + 1) * per
		if f == w7Files-1 {
			hi = int64(rows)
		}
		if err := writeW7File(path, int64(f)*per, hi, int64(rowGroup)); err != nil {
			return nil, fmt.Errorf("bench: W7 input %s: %w", path, err)
		}
	}
	return paths, os.WriteFile(done, nil, 0o666)
}

// writeW7File writes rows [from, to) of W7 to a Parquet file at path,
// through a temporary file renamed into place.
func writeW7File(path string, from, to, rowGroup int64) (err error) {
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(false), parquet.WithMaxRowGroupLength(rowGroup))
	w, err := pqarrow.NewFileWriter(W7Schema, out, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	for lo := from; lo < to; lo += rowGroup {
		rec := W7Batch(memory.DefaultAllocator, lo, min(lo+rowGroup, to))
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil { // closes out
		return err
	}
	return os.Rename(tmp, path)
}

//go:embed w7_dask.py
var w7DaskScript []byte

// DaskW7 is one run of W7 on Dask's disk shuffle.
type DaskW7 struct {
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	PeakRSS int64   `json:"peak_rss"`
}

// RunDaskW7 runs W7's shuffle of rows rows on Dask's disk shuffle (Python
// partd underneath; Debian's python3-dask) and returns the script's own
// timing of the shuffle and the read-back.
func RunDaskW7(rows int) (DaskW7, error) {
	var res DaskW7
	if out, err := exec.Command(workload.PythonBin, "-c", "import dask.dataframe").CombinedOutput(); err != nil {
		return res, fmt.Errorf("bench: W7 on Dask needs python3-dask (scripts/deps.sh installs it): %s: %v\n%s", workload.PythonBin, err, out)
	}
	tmp, err := os.MkdirTemp("", "partd-bench-w7-dask-*")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "w7_dask.py")
	if err := os.WriteFile(script, w7DaskScript, 0o644); err != nil {
		return res, err
	}
	cmd := exec.Command(workload.PythonBin, script, strconv.Itoa(rows))
	cmd.Dir = tmp
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return res, fmt.Errorf("bench: w7_dask.py: %v\n%s", err, ee.Stderr)
		}
		return res, fmt.Errorf("bench: w7_dask.py: %w", err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("bench: w7_dask.py printed %q: %w", out, err)
	}
	if res.Rows != int64(rows) {
		return res, fmt.Errorf("bench: w7_dask.py shuffled %d rows, want %d", res.Rows, rows)
	}
	return res, nil
}
