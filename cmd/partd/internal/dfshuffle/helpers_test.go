package dfshuffle_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
	"github.com/gopartd/partd/server/servertest"
)

// openDuckDB opens an in-memory DuckDB.
func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, "SET threads = 2")
	return db
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("duckdb: %v\n%s", err, query)
	}
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// rowsSQL selects rows [from, to) of the test table: every type the issue
// names (int64, a string of 8–23 bytes with NULLs, float64 with a NaN and a
// -0, a timestamp, a bool, a nullable int32, a skewed string) plus a
// key of `keys` distinct values.
func rowsSQL(from, to, keys int) string {
	return fmt.Sprintf(`SELECT
  i::BIGINT AS id,
  (hash(i) %% %d)::BIGINT AS key,
  CASE WHEN i %% 10 = 0 THEN 'hot' WHEN i %% 10 = 1 THEN 'tag-ü' || (i %% 3)::VARCHAR
       ELSE 'tag-' || (hash(i * 7) %% 50)::VARCHAR END AS tag,
  CASE WHEN i = 5 THEN 'NaN'::DOUBLE WHEN i = 6 THEN -0.0::DOUBLE
       ELSE (hash(i * 3) %% 1000000)::DOUBLE / 7.0 END AS x,
  CASE WHEN i %% 13 = 0 THEN NULL ELSE substr(md5(i::VARCHAR), 1, 8 + (i %% 16)::INTEGER) END AS s,
  TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 1234567) AS ts,
  (i %% 3 = 0) AS flag,
  CASE WHEN i %% 7 = 0 THEN NULL ELSE (i %% 100000)::INTEGER END AS n
FROM range(%d, %d) t(i)`, keys, from, to)
}

// writeParquet has DuckDB write files Parquet files of rows rows each,
// with row groups of rowGroup rows, and returns their paths.
func writeParquet(t testing.TB, db *sql.DB, dir string, files, rows, rowGroup, keys int) []string {
	t.Helper()
	var paths []string
	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("in-%d.parquet", f))
		mustExec(t, db, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, ROW_GROUP_SIZE %d)",
			rowsSQL(f*rows, (f+1)*rows, keys), sqlString(path), rowGroup))
		paths = append(paths, path)
	}
	return paths
}

// digest is what DuckDB says of a set of rows: their count, and the sum and
// xor of hash(row) over every column.
type digest struct {
	Rows     int64
	Sum, Xor string
}

func duckDigest(t testing.TB, db *sql.DB, from string) digest {
	t.Helper()
	var d digest
	q := fmt.Sprintf("SELECT count(*), coalesce(sum(hash(r))::VARCHAR, '0'), coalesce(bit_xor(hash(r))::VARCHAR, '0') FROM %s r", from)
	if err := db.QueryRow(q).Scan(&d.Rows, &d.Sum, &d.Xor); err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	return d
}

// duckTypes returns DuckDB's "name type" of each column of from.
func duckTypes(t testing.TB, db *sql.DB, from string) []string {
	t.Helper()
	rows, err := db.Query("DESCRIBE SELECT * FROM " + from)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v %v", vals[0], vals[1]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parquetList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sqlString(p)
	}
	return "read_parquet([" + strings.Join(q, ", ") + "])"
}

func outputParquet(dir string) string {
	return "read_parquet(" + sqlString(filepath.Join(dir, "*.parquet")) + ")"
}

// newLogBuffer returns a Buffer of limit bytes over a Log in a temporary
// directory: spills happen as soon as the buffer holds more than limit.
func newLogBuffer(t testing.TB, limit int64) *partd.Buffer {
	t.Helper()
	log, err := partd.NewLog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := partd.NewBuffer(partd.NewOffHeapDict(), log, limit)
	t.Cleanup(func() { b.Close() })
	return b
}

// newServerStore starts a partd server over a Buffer of limit bytes over a
// Log, on an ipc socket, and returns a client of it.
func newServerStore(t testing.TB, limit int64) partd.Store {
	t.Helper()
	log, err := partd.NewLog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sock, err := os.MkdirTemp("", "dfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	srv := servertest.NewAt(t, partd.NewBuffer(partd.NewOffHeapDict(), log, limit), "ipc://"+filepath.Join(sock, "s"))
	return servertest.Dial(t, srv)
}

// run runs job and fails the test on error.
func run(t testing.TB, job dfshuffle.Job, store partd.Store, workers int) *dfshuffle.Summary {
	t.Helper()
	sum, err := dfshuffle.Run(context.Background(), job, store, dfshuffle.RunOptions{Workers: workers})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum
}

var partRE = regexp.MustCompile(`part-(\d{5})(?:-(\d+))?\.(parquet|arrow|csv)$`)

// checkPartitions checks with DuckDB that the rows of each value of by lie
// in one partition's files, and that this partition is the engine's
// documented hash: arrowstore.PartitionOf(arrowstore.HashRows(by), n).
func checkPartitions(t testing.TB, db *sql.DB, out string, by []string, n int) {
	t.Helper()
	cols := strings.Join(by, ", ")
	from := "read_parquet(" + sqlString(filepath.Join(out, "*.parquet")) + ", filename = true)"
	part := `regexp_extract(filename, 'part-(\d+)', 1)::INTEGER`
	var split int
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT %s FROM %s GROUP BY ALL HAVING count(DISTINCT %s) > 1)", cols, from, part)
	if err := db.QueryRow(q).Scan(&split); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	if split != 0 {
		t.Fatalf("%d values of (%s) lie in more than one partition", split, cols)
	}
	q = fmt.Sprintf("SELECT DISTINCT %s, %s AS p FROM %s", cols, part, from)
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	sc := arrow.NewSchema(nil, nil)
	var builders []array.Builder
	var parts []int
	first := true
	for rows.Next() {
		vals := make([]any, len(by)+1)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if first {
			first = false
			var fields []arrow.Field
			for i, v := range vals[:len(by)] {
				switch v.(type) {
				case int64:
					fields = append(fields, arrow.Field{Name: by[i], Type: arrow.PrimitiveTypes.Int64, Nullable: true})
				case string:
					fields = append(fields, arrow.Field{Name: by[i], Type: arrow.BinaryTypes.String, Nullable: true})
				default:
					t.Fatalf("by column %q: unexpected %T", by[i], v)
				}
			}
			sc = arrow.NewSchema(fields, nil)
			for _, f := range fields {
				builders = append(builders, array.NewBuilder(memory.DefaultAllocator, f.Type))
			}
		}
		for i, v := range vals[:len(by)] {
			switch b := builders[i].(type) {
			case *array.Int64Builder:
				b.Append(v.(int64))
			case *array.StringBuilder:
				b.Append(v.(string))
			}
		}
		parts = append(parts, int(vals[len(by)].(int32)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(parts) == 0 {
		t.Fatal("no rows in the output")
	}
	arrs := make([]arrow.Array, len(builders))
	for i, b := range builders {
		arrs[i] = b.NewArray()
		defer arrs[i].Release()
	}
	rec := array.NewRecordBatch(sc, arrs, int64(len(parts)))
	defer rec.Release()
	hashes, err := arrowstore.HashRows(rec, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hashes {
		if want := arrowstore.PartitionOf(h, n); want != parts[i] {
			t.Fatalf("row %d of the distinct (%s): in partition %d, the hash says %d", i, cols, parts[i], want)
		}
	}
}

// outputFiles lists the output directory and checks that every file is a
// partition file named as documented.
func outputFiles(t testing.TB, dir, format string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		m := partRE.FindStringSubmatch(e.Name())
		if m == nil || m[3] != format {
			t.Fatalf("unexpected file %s in the output", e.Name())
		}
		names = append(names, e.Name())
	}
	// A partition is one file part-NNNNN or files part-NNNNN-0, -1, … without gaps.
	byPart := map[string][]int{}
	for _, n := range names {
		m := partRE.FindStringSubmatch(n)
		k := -1
		if m[2] != "" {
			k, _ = strconv.Atoi(m[2])
		}
		byPart[m[1]] = append(byPart[m[1]], k)
	}
	for p, ks := range byPart {
		slices.Sort(ks)
		if len(ks) == 1 && ks[0] == -1 {
			continue
		}
		for i, k := range ks {
			if k != i {
				t.Fatalf("partition %s has files %v: want 0, 1, … without a plain part-%s", p, ks, p)
			}
		}
		if len(ks) == 1 {
			t.Fatalf("partition %s is one file named part-%s-0", p, p)
		}
	}
	return names
}

// noLeftovers checks that the output's parent holds nothing but the given
// names (no staging directory left behind).
func noLeftovers(t testing.TB, parent string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(want, e.Name()) {
			t.Errorf("left behind in %s: %s", parent, e.Name())
		}
	}
}
