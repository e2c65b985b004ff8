package dfshuffle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
)

// TestBadInput: every kind of bad input is an error that names the file
// (and the column, the other file or the line), and no partition file is
// written: the output directory does not appear and nothing is left beside
// it. Some are found while planning, some only by the map tasks, after
// other tasks have already appended their rows.
func TestBadInput(t *testing.T) {
	db := openDuckDB(t)
	good := t.TempDir()
	paths := writeParquet(t, db, good, 2, 4000, 1000, 997)

	// A file whose column n is BIGINT rather than INTEGER.
	otherDir := t.TempDir()
	other := filepath.Join(otherDir, "other.parquet")
	mustExec(t, db, fmt.Sprintf("COPY (SELECT * REPLACE (n::BIGINT AS n) FROM (%s)) TO %s (FORMAT parquet)", rowsSQL(0, 100, 997), sqlString(other)))
	// A file with one column fewer.
	fewer := filepath.Join(otherDir, "fewer.parquet")
	mustExec(t, db, fmt.Sprintf("COPY (SELECT * EXCLUDE (flag) FROM (%s)) TO %s (FORMAT parquet)", rowsSQL(0, 100, 997), sqlString(fewer)))

	// A truncated copy, and a copy whose first page header is garbage.
	data, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(otherDir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o666)
	damaged := filepath.Join(otherDir, "damaged.parquet")
	bad := append([]byte(nil), data...)
	for i := 4; i < 40; i++ {
		bad[i] = 0xFF
	}
	os.WriteFile(damaged, bad, 0o666)
	notParquet := filepath.Join(otherDir, "text.parquet")
	os.WriteFile(notParquet, []byte("id,key\n1,2\n"), 0o666)

	// CSV files: a wrong field count early (found by the sample) and late
	// (found by the reader), a value that does not fit the inferred type.
	csvDir := t.TempDir()
	csvFile := func(name string, badLine int, badRow string) string {
		var b strings.Builder
		b.WriteString("id,key,name\n")
		for line := 2; line <= 60; line++ {
			if line == badLine {
				b.WriteString(badRow + "\n")
				continue
			}
			fmt.Fprintf(&b, "%d,%d,\"n%d\"\n", line, line%7, line)
		}
		path := filepath.Join(csvDir, name)
		os.WriteFile(path, []byte(b.String()), 0o666)
		return path
	}
	earlyFields := csvFile("early.csv", 4, "1,2,x,extra")
	lateFields := csvFile("late.csv", 45, "1,2")
	lateValue := csvFile("value.csv", 50, "1,abc,x")
	csvOther := filepath.Join(csvDir, "otherheader.csv")
	os.WriteFile(csvOther, []byte("id,kee,name\n1,2,x\n"), 0o666)

	cases := []struct {
		name   string
		inputs []string
		by     []string
		infer  int
		want   []string // in the error message
	}{
		{"missing file", []string{paths[0], filepath.Join(good, "nope.parquet")}, []string{"key"}, 0,
			[]string{"nope.parquet", "no such file"}},
		{"glob without match", []string{filepath.Join(good, "*.pq")}, []string{"key"}, 0,
			[]string{"*.pq", "no file matches"}},
		{"missing column", paths, []string{"key", "kee"}, 0,
			[]string{"in-0.parquet", `column "kee"`, "no such column"}},
		{"truncated parquet", []string{paths[0], truncated}, []string{"key"}, 0,
			[]string{"truncated.parquet", "not a readable Parquet file"}},
		{"not parquet", []string{notParquet}, []string{"key"}, 0,
			[]string{"text.parquet", "not a readable Parquet file"}},
		{"corrupt page", []string{paths[0], damaged}, []string{"key"}, 0,
			[]string{"damaged.parquet", "corrupt"}},
		{"schema differs: type", []string{paths[0], other}, []string{"key"}, 0,
			[]string{"other.parquet", "in-0.parquet", `column "n"`, "int32", "int64"}},
		{"schema differs: columns", []string{paths[0], fewer}, []string{"key"}, 0,
			[]string{"fewer.parquet", "in-0.parquet", `"flag"`}},
		{"csv field count in the sample", []string{earlyFields}, []string{"key"}, 0,
			[]string{"early.csv", "line 4", "wrong number of fields: 4, the header has 3"}},
		{"csv field count past the sample", []string{lateFields}, []string{"key"}, 5,
			[]string{"late.csv", "line 45", "wrong number of fields: 2, the header has 3"}},
		{"csv value past the sample", []string{lateValue}, []string{"name"}, 5,
			[]string{"value.csv", "line 50", `column "key"`, `"abc"`, "int64"}},
		{"csv headers differ", []string{lateValue, csvOther}, []string{"id"}, 0,
			[]string{"otherheader.csv", "value.csv", `"kee"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			job := smallJob(c.inputs, out, c.by...)
			job.TaskRows = 1000 // many tasks: the good ones map before the bad one fails
			job.CSV.InferRows = c.infer
			store := newLogBuffer(t, 256<<10)
			_, err := dfshuffle.Run(context.Background(), job, store, dfshuffle.RunOptions{Workers: 2})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(c.name, "glob") {
				var ie *dfshuffle.InputError
				if !errors.As(err, &ie) {
					t.Errorf("error %q is not an *InputError", err)
				}
			}
			noLeftovers(t, parent)
			if keys, err := store.Keys(); err != nil || len(keys) > 0 {
				t.Errorf("the failed run left %d keys in the store (%v)", len(keys), err)
			}
		})
	}
}
