package dfshuffle_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
)

// smallJob is a job tuned so that a few tens of thousands of rows exercise
// everything: several tasks per file, several batches per task, several
// appends and chunk keys per task and partition, several files per
// partition.
func smallJob(inputs []string, out string, by ...string) dfshuffle.Job {
	return dfshuffle.Job{
		Inputs: inputs, By: by, Partitions: 8, Output: out,
		TaskRows: 7000, BatchRows: 2048, FlushBytes: 96 << 10, KeyBytes: 160 << 10,
		RowGroupRows: 2000, FileBytes: 48 << 10,
	}
}

// checkOutput checks the output directory against the input with DuckDB:
// the same rows (count, and the sum and xor of DuckDB's hash over every
// column), the same column types, and every value of by in the one
// partition the engine's hash names.
func checkOutput(t *testing.T, sum *dfshuffle.Summary, input, out string, by []string, wantRows int64) {
	t.Helper()
	db := openDuckDB(t)
	outputFiles(t, out, "parquet")
	in, got := duckDigest(t, db, input), duckDigest(t, db, outputParquet(out))
	if in.Rows != wantRows {
		t.Fatalf("DuckDB reads %d rows of the input, want %d", in.Rows, wantRows)
	}
	if got != in {
		t.Fatalf("DuckDB reads the output as %+v, the input as %+v", got, in)
	}
	if it, ot := duckTypes(t, db, input), duckTypes(t, db, outputParquet(out)); !slices.Equal(it, ot) {
		t.Fatalf("column types differ:\ninput  %v\noutput %v", it, ot)
	}
	checkPartitions(t, db, out, by, sum.Plan.Job.Partitions)
	if sum.Total.Rows != wantRows {
		t.Fatalf("the engine counted %d rows, want %d", sum.Total.Rows, wantRows)
	}
}

// TestParquetFiles shuffles three Parquet files of several row groups each
// (written by DuckDB) by one column through a Buffer over a Log whose
// memory limit is small enough that most of the data spills.
func TestParquetFiles(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 3, 12000, 2500, 997)
	store := newLogBuffer(t, 256<<10)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	job := smallJob([]string{filepath.Join(in, "*.parquet")}, out, "key")
	sum := run(t, job, store, 2)
	if len(sum.Plan.Tasks) < 6 {
		t.Errorf("%d tasks, want several per file", len(sum.Plan.Tasks))
	}
	if st := store.Stats(); st.Spills == 0 {
		t.Errorf("the buffer never spilled: %+v", st)
	}
	checkOutput(t, sum, parquetList(paths), out, job.By, 36000)
	if sum.Files <= job.Partitions {
		t.Errorf("%d files for %d partitions: want some partitions in several files", sum.Files, job.Partitions)
	}
	noLeftovers(t, parent, "out")
	// Dictionaries where values repeat (tag, key), none where they do not.
	db2 := openDuckDB(t)
	rows, err := db2.Query(fmt.Sprintf(`SELECT path_in_schema, bool_or(encodings LIKE '%%DICTIONARY%%')
		FROM parquet_metadata(%s) GROUP BY ALL ORDER BY ALL`, sqlString(filepath.Join(out, "*.parquet"))))
	if err != nil {
		t.Fatal(err)
	}
	dict := map[string]bool{}
	for rows.Next() {
		var col string
		var on bool
		if err := rows.Scan(&col, &on); err != nil {
			t.Fatal(err)
		}
		dict[col] = on
	}
	rows.Close()
	if want := map[string]bool{"id": false, "key": true, "tag": true, "x": false, "s": false, "ts": false, "flag": false, "n": false}; !maps.Equal(dict, want) {
		t.Errorf("dictionary-encoded columns %v, want %v", dict, want)
	}
	if keys, err := partd.KeysPrefix(store, "dfshuffle/"); err != nil || len(keys) != 0 {
		t.Errorf("keys left in the store: %d, %v", len(keys), err)
	}
}

// TestParquetServer shuffles by two columns through a real partd server
// (a Buffer over a Log) and its client.
func TestParquetServer(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 2, 15000, 4000, 301)
	store := newServerStore(t, 128<<10)
	out := filepath.Join(t.TempDir(), "out")
	job := smallJob(paths, out, "key", "tag")
	job.Partitions = 5
	sum := run(t, job, store, 2)
	checkOutput(t, sum, parquetList(paths), out, job.By, 30000)
}
