package dfshuffle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
)

// duckType is the DuckDB type of an Arrow type, for the types the tests'
// CSV inputs are inferred as.
func duckType(t testing.TB, dt arrow.DataType) string {
	switch dt := dt.(type) {
	case *arrow.Int64Type:
		return "BIGINT"
	case *arrow.Float64Type:
		return "DOUBLE"
	case *arrow.StringType:
		return "VARCHAR"
	case *arrow.BooleanType:
		return "BOOLEAN"
	case *arrow.TimestampType:
		if dt.Unit == arrow.Nanosecond && dt.TimeZone == "" {
			return "TIMESTAMP_NS"
		}
	}
	t.Fatalf("no DuckDB type for %s", dt)
	return ""
}

// readCSVAs is a DuckDB read_csv of paths with the columns of sc.
func readCSVAs(t testing.TB, paths []string, sc *arrow.Schema) string {
	cols := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		cols[i] = fmt.Sprintf("%s: %s", sqlString(f.Name), sqlString(duckType(t, f.Type)))
	}
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sqlString(p)
	}
	return fmt.Sprintf("read_csv([%s], header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', columns = {%s})",
		strings.Join(q, ", "), strings.Join(cols, ", "))
}

// TestCSVFiles shuffles two CSV files with a header, written by DuckDB,
// by two columns. The column types are what arrow-go infers (checked), and
// DuckDB, reading the inputs with those types, agrees with the output.
func TestCSVFiles(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	var paths []string
	for f := range 2 {
		path := filepath.Join(in, fmt.Sprintf("in-%d.csv", f))
		mustExec(t, db, fmt.Sprintf("COPY (%s) TO %s (FORMAT csv, HEADER)", rowsSQL(f*9000, (f+1)*9000, 499), sqlString(path)))
		paths = append(paths, path)
	}
	out := filepath.Join(t.TempDir(), "out")
	job := smallJob([]string{filepath.Join(in, "*.csv")}, out, "tag", "key")
	sum := run(t, job, newLogBuffer(t, 256<<10), 2)

	want := []string{"id int64", "key int64", "tag utf8", "x float64", "s utf8", "ts timestamp[ns]", "flag bool", "n int64"}
	var got []string
	for _, f := range sum.Plan.Schema().Fields() {
		got = append(got, f.Name+" "+f.Type.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("inferred schema %v, want %v", got, want)
	}
	checkOutput(t, sum, readCSVAs(t, paths, sum.Plan.Schema()), out, job.By, 18000)
}

// writeArrowInputs converts a DuckDB Parquet file into an Arrow IPC file of
// several record batches and an IPC stream (.arrows).
func writeArrowInputs(t testing.TB, parquetPath, dir string) []string {
	t.Helper()
	rdr, err := file.OpenParquetFile(parquetPath, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 3000}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	filePath, streamPath := filepath.Join(dir, "in.arrow"), filepath.Join(dir, "in.arrows")
	ff, _ := os.Create(filePath)
	sf, _ := os.Create(streamPath)
	fw, err := ipc.NewFileWriter(ff, ipc.WithSchema(rr.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	sw := ipc.NewWriter(sf, ipc.WithSchema(rr.Schema()))
	n := 0
	for rr.Next() {
		if n%2 == 0 {
			err = fw.Write(rr.RecordBatch())
		} else {
			err = sw.Write(rr.RecordBatch())
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if rr.Err() != nil || fw.Close() != nil || sw.Close() != nil || ff.Close() != nil || sf.Close() != nil {
		t.Fatal("writing the Arrow inputs failed", rr.Err())
	}
	return []string{filePath, streamPath}
}

// TestArrowFiles shuffles an Arrow IPC file and an IPC stream, converted by
// arrow-go from a DuckDB Parquet file, and checks the output against that
// Parquet file.
func TestArrowFiles(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	pq := writeParquet(t, db, in, 1, 20000, 5000, 997)
	paths := writeArrowInputs(t, pq[0], t.TempDir())
	out := filepath.Join(t.TempDir(), "out")
	job := smallJob(paths, out, "key")
	sum := run(t, job, newServerStore(t, 1<<20), 2)
	if f := sum.Plan.Files; f[0].Stream || !f[1].Stream || f[0].Parts < 3 {
		t.Fatalf("files %+v: want an IPC file of several batches, then a stream", f)
	}
	checkOutput(t, sum, parquetList(pq), out, job.By, 20000)
}

// TestOutputFormats writes Arrow IPC files and CSV files: the Arrow files
// hold every row with the plan's schema exactly (arrow-go reads them), the
// CSV files every value (DuckDB reads them, typed as the input).
func TestOutputFormats(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 2, 8000, 3000, 997)
	input := duckDigest(t, db, parquetList(paths))

	t.Run("arrow", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		job := smallJob(paths, out, "key")
		job.OutputFormat = "arrow"
		sum := run(t, job, newLogBuffer(t, 256<<10), 2)
		total := arrowOutputStats(t, out, sum)
		if total.Rows != 16000 || total != sum.Total {
			t.Fatalf("the Arrow files hold %v, the engine wrote %v", total, sum.Total)
		}
	})

	t.Run("csv", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		job := smallJob(paths, out, "key")
		job.OutputFormat = "csv"
		run(t, job, newLogBuffer(t, 256<<10), 2)
		names := outputFiles(t, out, "csv")
		cols := "{'id': 'BIGINT', 'key': 'BIGINT', 'tag': 'VARCHAR', 'x': 'DOUBLE', 's': 'VARCHAR', 'ts': 'TIMESTAMP', 'flag': 'BOOLEAN', 'n': 'INTEGER'}"
		got := duckDigest(t, db, fmt.Sprintf("read_csv(%s, header = true, auto_detect = false, columns = %s)",
			sqlString(filepath.Join(out, "*.csv")), cols))
		if got != input {
			t.Fatalf("DuckDB reads the CSV output (%d files) as %+v, the input as %+v", len(names), got, input)
		}
	})
}

// TestWorkerProcesses drives the engine as the command line does with
// worker processes: the plan goes through its JSON file, map workers get
// lists of tasks, reducers lists of partitions, all through one server.
func TestWorkerProcesses(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 3, 6000, 1500, 997)
	store := newServerStore(t, 256<<10)
	out := filepath.Join(t.TempDir(), "out")
	job := smallJob([]string{in}, out, "key")
	plan, err := dfshuffle.NewPlan(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	planPath, err := plan.Save()
	if err != nil {
		t.Fatal(err)
	}
	var mapped []dfshuffle.MapStats
	for _, tasks := range dfshuffle.AssignTasks(plan, 3) {
		child, err := dfshuffle.ReadPlan(planPath) // as a worker process reads it
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		ms, err := dfshuffle.MapTasks(ctx, child, tasks, store, func(rows int64) { last = rows })
		if err != nil {
			t.Fatal(err)
		}
		var rows int64
		for _, m := range ms {
			rows += m.Rows
		}
		if last != rows {
			t.Errorf("progress ended at %d rows of %d", last, rows)
		}
		mapped = append(mapped, ms...)
	}
	var reduced []dfshuffle.ReduceStats
	for _, parts := range dfshuffle.AssignPartitions(job.Partitions, 2) {
		child, err := dfshuffle.ReadPlan(planPath)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := dfshuffle.ReduceParts(ctx, child, parts, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		reduced = append(reduced, rs...)
	}
	total, err := dfshuffle.Verify(plan, mapped, reduced)
	if err != nil {
		t.Fatal(err)
	}
	if total.Rows != 18000 {
		t.Fatalf("%d rows, want 18000", total.Rows)
	}
	// A reducer that lost a row is caught.
	bad := slices.Clone(reduced)
	bad[slices.IndexFunc(bad, func(r dfshuffle.ReduceStats) bool { return r.Partition == 3 })].Stats.Rows--
	if _, err := dfshuffle.Verify(plan, mapped, bad); err == nil || !strings.Contains(err.Error(), "partition 3") {
		t.Fatalf("Verify with a lost row: %v", err)
	}
	if err := plan.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, ".partd-plan.json")); !os.IsNotExist(err) {
		t.Fatalf("the plan file is in the output: %v", err)
	}
	if n, err := dfshuffle.Cleanup(store, ""); err != nil || n == 0 {
		t.Fatalf("Cleanup: %d keys, %v", n, err)
	}
	sum := &dfshuffle.Summary{Plan: plan, Total: total}
	checkOutput(t, sum, parquetList(paths), out, job.By, 18000)
}

// TestEmptyInput: a CSV file with a header and no rows gives one file
// without rows, part-00000, of the inferred schema.
func TestEmptyInput(t *testing.T) {
	in := filepath.Join(t.TempDir(), "empty.csv")
	if err := os.WriteFile(in, []byte("\xEF\xBB\xBFa,b\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	sum := run(t, dfshuffle.Job{Inputs: []string{in}, By: []string{"a"}, Partitions: 4, Output: out}, newLogBuffer(t, 1<<20), 1)
	if sum.Total.Rows != 0 {
		t.Fatalf("%d rows", sum.Total.Rows)
	}
	db := openDuckDB(t)
	if got := outputFiles(t, out, "parquet"); !slices.Equal(got, []string{"part-00000.parquet"}) {
		t.Fatalf("output %v", got)
	}
	if d := duckDigest(t, db, outputParquet(out)); d.Rows != 0 {
		t.Fatalf("%+v", d)
	}
	if got := duckTypes(t, db, outputParquet(out)); !slices.Equal(got, []string{"a VARCHAR", "b VARCHAR"}) {
		t.Fatalf("types %v (the BOM must not be part of the first name)", got)
	}
}

// TestOverwrite: a non-empty output directory is refused, and replaced
// whole with Overwrite.
func TestOverwrite(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 1, 3000, 1000, 997)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	if err := os.MkdirAll(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "old.txt"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	job := smallJob(paths, out, "key")
	_, err := dfshuffle.Run(context.Background(), job, newLogBuffer(t, 1<<20), dfshuffle.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Run into a non-empty directory: %v", err)
	}
	noLeftovers(t, parent, "out")
	job.Overwrite = true
	run(t, job, newLogBuffer(t, 1<<20), 2)
	if _, err := os.Stat(filepath.Join(out, "old.txt")); !os.IsNotExist(err) {
		t.Fatal("the old output survived the overwrite")
	}
	outputFiles(t, out, "parquet")
	noLeftovers(t, parent, "out")

	// An input inside the directory that would be overwritten is refused.
	job.Inputs = []string{filepath.Join(out, "part-00000.parquet")}
	if _, err := dfshuffle.Run(context.Background(), job, newLogBuffer(t, 1<<20), dfshuffle.RunOptions{}); err == nil || !strings.Contains(err.Error(), "inside the output") {
		t.Fatalf("overwriting the input's directory: %v", err)
	}
}

// TestVerifyCatchesDamage alters one value of one partition in the store
// between the map and reduce phases: the partition file is written, but
// Verify names the partition, and a Run that hit it would commit nothing.
func TestVerifyCatchesDamage(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	paths := writeParquet(t, db, t.TempDir(), 1, 5000, 2000, 997)
	raw := newLogBuffer(t, 1<<20)
	job := smallJob(paths, filepath.Join(t.TempDir(), "out"), "key")
	plan, err := dfshuffle.NewPlan(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Abort()
	mapped, err := dfshuffle.MapTasks(ctx, plan, dfshuffle.AssignTasks(plan, 1)[0], raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	as, err := arrowstore.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := partd.KeysPrefix(raw, dfshuffle.PartitionPrefix("dfshuffle", 5))
	if err != nil || len(keys) == 0 {
		t.Fatalf("partition 5's keys: %v, %v", keys, err)
	}
	recs, err := as.Get(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[0][0]
	ids := rec.Column(0).(*array.Int64)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range ids.Len() {
		v := ids.Value(i)
		if i == 0 {
			v++
		}
		b.Append(v)
	}
	cols := append([]arrow.Array{b.NewArray()}, rec.Columns()[1:]...)
	damaged := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	if err := as.Set(keys[0], append([]arrow.RecordBatch{damaged}, recs[0][1:]...)); err != nil {
		t.Fatal(err)
	}
	reduced, err := dfshuffle.ReduceParts(ctx, plan, []int{0, 1, 2, 3, 4, 5, 6, 7}, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dfshuffle.Verify(plan, mapped, reduced)
	var me *dfshuffle.MismatchError
	if !errors.As(err, &me) || len(me.Bad) != 1 || me.Bad[0].Partition != 5 || me.Bad[0].Mapped.Rows != me.Bad[0].Reduced.Rows {
		t.Fatalf("Verify after damage to partition 5: %v", err)
	}
}

// TestArrowTypesSurvive: CSV columns inferred as date32, time32[s],
// timestamp[s] with and without a zone survive the trip: exactly in Arrow IPC
// output; in Parquet, which has no unit of seconds, as milliseconds (as every
// Parquet writer stores them), the zone kept (pqarrow reads it back from the
// ARROW:schema the files carry), every instant equal (DuckDB compares them).
func TestArrowTypesSurvive(t *testing.T) {
	in := filepath.Join(t.TempDir(), "types.csv")
	var b strings.Builder
	b.WriteString("k,d,t,ts,tz,f,flag,s\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,2024-01-%02d,%02d:%02d:%02d,2024-03-01 %02d:%02d:%02d,2024-03-01T%02d:00:00Z,%d.5,%v,\"a,\"\"%d\"\"\"\n",
			i%17, 1+i%28, i%24, i%60, i%60, i%24, i%60, (i*7)%60, i%24, i, i%2 == 0, i)
	}
	b.WriteString("17,,,,,,,\n") // NULLs everywhere
	if err := os.WriteFile(in, []byte(b.String()), 0o666); err != nil {
		t.Fatal(err)
	}
	types := func(sc *arrow.Schema) []string {
		var out []string
		for _, f := range sc.Fields() {
			out = append(out, f.Type.String())
		}
		return out
	}
	job := dfshuffle.Job{Inputs: []string{in}, By: []string{"k"}, Partitions: 3}

	// Arrow IPC: the very schema, every value.
	job.Output, job.OutputFormat = filepath.Join(t.TempDir(), "out"), "arrow"
	sum := run(t, job, newLogBuffer(t, 1<<20), 2)
	want := []string{"int64", "date32", "time32[s]", "timestamp[s]", "timestamp[s, tz=UTC]", "float64", "bool", "utf8"}
	if got := types(sum.Plan.Schema()); !slices.Equal(got, want) {
		t.Fatalf("inferred %v, want %v", got, want)
	}
	total := arrowOutputStats(t, job.Output, sum)
	if total != sum.Total || total.Rows != 3001 {
		t.Fatalf("the Arrow files hold %v, the engine wrote %v", total, sum.Total)
	}

	// Parquet.
	job.Output, job.OutputFormat = filepath.Join(t.TempDir(), "out"), "parquet"
	run(t, job, newLogBuffer(t, 1<<20), 2)
	wantPQ := []string{"int64", "date32", "time32[ms]", "timestamp[ms]", "timestamp[ms, tz=UTC]", "float64", "bool", "utf8"}
	for _, name := range outputFiles(t, job.Output, "parquet") {
		rdr, err := file.OpenParquetFile(filepath.Join(job.Output, name), false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := fr.Schema()
		if err != nil {
			t.Fatal(err)
		}
		if got := types(sc); !slices.Equal(got, wantPQ) {
			t.Fatalf("%s: pqarrow reads %v, want %v", name, got, wantPQ)
		}
		rdr.Close()
	}
	db := openDuckDB(t)
	cols := "k, d, t::TIME AS t, ts::TIMESTAMP AS ts, tz::TIMESTAMPTZ AS tz, f, flag, s"
	fromCSV := fmt.Sprintf("(SELECT %s FROM read_csv(%s, header = true, auto_detect = false, columns = {'k': 'BIGINT', 'd': 'DATE', 't': 'TIME', 'ts': 'TIMESTAMP', 'tz': 'TIMESTAMPTZ', 'f': 'DOUBLE', 'flag': 'BOOLEAN', 's': 'VARCHAR'}))", cols, sqlString(in))
	fromOut := fmt.Sprintf("(SELECT %s FROM %s)", cols, outputParquet(job.Output))
	if a, b := duckDigest(t, db, fromCSV), duckDigest(t, db, fromOut); a != b || a.Rows != 3001 {
		t.Fatalf("DuckDB reads the CSV as %+v, the output as %+v", a, b)
	}
}

// arrowOutputStats reads every Arrow IPC file the engine wrote to dir,
// checks each file's schema against the plan's, and returns the rows and
// checksum of what they hold.
func arrowOutputStats(t *testing.T, dir string, sum *dfshuffle.Summary) dfshuffle.Stats {
	t.Helper()
	var total dfshuffle.Stats
	for _, name := range outputFiles(t, dir, "arrow") {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ipc.NewFileReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Schema().Equal(sum.Plan.Schema()) {
			t.Fatalf("%s: schema %s, want %s", name, r.Schema(), sum.Plan.Schema())
		}
		for i := range r.NumRecords() {
			rec, err := r.RecordBatch(i)
			if err != nil {
				t.Fatal(err)
			}
			sums, err := dfshuffle.RowChecksums(rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range sums {
				total.Merge(dfshuffle.Stats{Rows: 1, Sum: h, Xor: h})
			}
		}
		r.Close()
		f.Close()
	}
	return total
}
