package dfshuffle_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
)

// w7Rows is W7's row count: 10 million, times $PARTD_BENCH_SCALE.
func w7Rows(b *testing.B) int {
	scale := 1.0
	if s := os.Getenv("PARTD_BENCH_SCALE"); s != "" {
		var err error
		if scale, err = strconv.ParseFloat(s, 64); err != nil || scale <= 0 {
			b.Fatalf("PARTD_BENCH_SCALE=%q: want a positive number", s)
		}
	}
	return int(10_000_000 * scale)
}

// w7SQL selects rows [from, to) of W7 (WORKLOADS.md at the repository root):
// int64 id; int64 key of 200,000 values; a skewed string tag (10% "hot",
// else 5,000 values); float64 x; a string s of 8–23 bytes, every 13th
// NULL; a timestamp; a bool; an int32, every 7th NULL.
func w7SQL(from, to int) string {
	return fmt.Sprintf(`SELECT
  i::BIGINT AS id,
  (hash(i) %% 200000)::BIGINT AS key,
  CASE WHEN hash(i * 31) %% 10 = 0 THEN 'hot' ELSE 'tag-' || (hash(i * 7) %% 5000)::VARCHAR END AS tag,
  (hash(i * 3) %% 1000000000)::DOUBLE / 1000.0 AS x,
  CASE WHEN i %% 13 = 0 THEN NULL ELSE substr(md5(i::VARCHAR), 1, 8 + (i %% 16)::INTEGER) END AS s,
  TIMESTAMP '2024-01-01' + to_microseconds((hash(i * 5) %% 31536000000000)::BIGINT) AS ts,
  hash(i * 11) %% 2 = 0 AS flag,
  CASE WHEN i %% 7 = 0 THEN NULL ELSE (hash(i * 13) %% 1000000)::INTEGER END AS n
FROM range(%d, %d) t(i)`, from, to)
}

// w7Inputs returns W7's 4 Parquet files (zstd), written by DuckDB once
// into a cache directory under os.TempDir() named by the row count.
func w7Inputs(b *testing.B, rows int) []string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("partd-w7-%d-v1", rows))
	var paths []string
	for f := range 4 {
		paths = append(paths, filepath.Join(dir, fmt.Sprintf("w7-%d.parquet", f)))
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return paths
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.Logf("writing W7's inputs (%d rows) to %s", rows, dir)
	per := rows / 4
	for f, path := range paths {
		hi := (f + 1) * per
		if f == 3 {
			hi = rows
		}
		mustExec(b, db, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", w7SQL(f*per, hi), sqlString(path)))
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o666); err != nil {
		b.Fatal(err)
	}
	return paths
}

// BenchmarkW7 is W7, the dataframe shuffle: 10 million rows of 8 columns in
// 4 Parquet files, shuffled by key into 64 Parquet partitions, side by
// side:
//
//   - duckdb: DuckDB's own COPY … TO (FORMAT parquet, PARTITION_BY (p)),
//     with p = hash(key) % 64, on 2 threads;
//   - partd: the engine with 2 workers and 2 reducers through a partd server
//     on an ipc socket, over a Buffer of 1 GiB (off-heap Dict) over a Log,
//     as `partd shuffle --input` runs by default;
//   - partd-inproc: the same without the server: the workers append to the
//     Buffer in this process;
//   - partd-procs: as `partd shuffle --input` runs: the server in this
//     process, 2 map worker processes, then 2 reducer processes (this test
//     binary, as the partd binary runs itself), with their peak RSS;
//   - partd-procs-64MiB: the same with a Buffer of 64 MiB, so that the
//     shuffled data goes to the Log on disk;
//   - dask: Dask 2022.12's disk shuffle (ddf.shuffle("key", shuffle="disk"),
//     on Python partd) of the same number of rows built in pandas
//     (cmd/partd/internal/bench/w7_dask.py; Dask cannot read Parquet here, without pyarrow):
//     ns/op is the script's own timing of the shuffle and the read-back,
//     as the issue measured it. It needs python3-dask ($PARTD_PYTHON, else
//     /usr/bin/python3).
//
// PARTD_BENCH_SCALE=0.1 runs a tenth of the rows;
// PARTD_W7_STORE_COMPRESSION=lz4 has the engine compress what it appends
// to the store (Job.StoreCompression). Run it with -benchtime 1x
// (each op is a whole shuffle) and -count 3 for medians.
func BenchmarkW7(b *testing.B) {
	rows := w7Rows(b)
	inputs := w7Inputs(b, rows)

	b.Run("duckdb", func(b *testing.B) {
		db := openDuckDB(b) // SET threads = 2
		var out string
		for b.Loop() {
			b.StopTimer()
			out = filepath.Join(b.TempDir(), "out")
			b.StartTimer()
			mustExec(b, db, fmt.Sprintf("COPY (SELECT *, hash(key) %% 64 AS p FROM %s) TO %s (FORMAT parquet, PARTITION_BY (p))",
				parquetList(inputs), sqlString(out)))
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(dirBytes(b, out))/1e6, "out-MB")
	})

	stores := []struct {
		name string
		open func(b *testing.B) partd.Store
	}{
		{"partd", func(b *testing.B) partd.Store { return newServerStore(b, 1<<30) }},
		{"partd-inproc", func(b *testing.B) partd.Store { return newLogBuffer(b, 1<<30) }},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			store := s.open(b)
			var sum *dfshuffle.Summary
			for b.Loop() {
				b.StopTimer()
				out := filepath.Join(b.TempDir(), "out")
				runtime.GC()
				b.StartTimer()
				var err error
				sum, err = dfshuffle.Run(context.Background(), dfshuffle.Job{
					Inputs: inputs, By: []string{"key"}, Partitions: 64, Output: out,
					StoreCompression: os.Getenv("PARTD_W7_STORE_COMPRESSION"),
				}, store, dfshuffle.RunOptions{Workers: 2})
				if err != nil {
					b.Fatal(err)
				}
			}
			if sum.Total.Rows != int64(rows) {
				b.Fatalf("%d rows shuffled, want %d", sum.Total.Rows, rows)
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(sum.MapTime.Seconds(), "map-s")
			b.ReportMetric(sum.ReduceTime.Seconds(), "reduce-s")
			b.ReportMetric(float64(sum.StoreBytes)/1e6, "store-MB")
			b.ReportMetric(float64(sum.FileBytes)/1e6, "out-MB")
		})
	}
	b.Run("dask", func(b *testing.B) {
		py := os.Getenv("PARTD_PYTHON")
		if py == "" {
			py = "/usr/bin/python3"
		}
		if out, err := exec.Command(py, "-c", "import dask.dataframe").CombinedOutput(); err != nil {
			b.Fatalf("Dask is required (apt install python3-dask; scripts/deps.sh): %s: %v\n%s", py, err, out)
		}
		var total float64
		for b.Loop() {
			out, err := exec.Command(py, "../bench/w7_dask.py", strconv.Itoa(rows)).Output()
			if err != nil {
				b.Fatalf("w7_dask.py: %v\n%s", err, out)
			}
			var res struct{ Seconds float64 }
			if err := json.Unmarshal(out, &res); err != nil {
				b.Fatalf("w7_dask.py printed %q: %v", out, err)
			}
			total += res.Seconds
		}
		b.ReportMetric(total/float64(b.N)*1e9, "ns/op")
		b.ReportMetric(float64(rows)*float64(b.N)/total, "rows/s")
	})
	for _, memory := range []struct {
		name  string
		bytes int64
	}{{"partd-procs", 1 << 30}, {"partd-procs-64MiB", 64 << 20}} {
		b.Run(memory.name, func(b *testing.B) {
			var res procsResult
			for b.Loop() {
				b.StopTimer()
				out := filepath.Join(b.TempDir(), "out")
				b.StartTimer()
				var err error
				res, err = runProcs(b, dfshuffle.Job{Inputs: inputs, By: []string{"key"}, Partitions: 64, Output: out,
					StoreCompression: os.Getenv("PARTD_W7_STORE_COMPRESSION")}, memory.bytes, 2)
				if err != nil {
					b.Fatal(err)
				}
			}
			if res.sum.Total.Rows != int64(rows) {
				b.Fatalf("%d rows shuffled, want %d", res.sum.Total.Rows, rows)
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(res.mapTime.Seconds(), "map-s")
			b.ReportMetric(res.reduceTime.Seconds(), "reduce-s")
			b.ReportMetric(float64(res.workerRSS)/(1<<20), "worker-MiB")
			b.ReportMetric(float64(res.reducerRSS)/(1<<20), "reducer-MiB")
		})
	}
}

// dirBytes returns the bytes of the files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
