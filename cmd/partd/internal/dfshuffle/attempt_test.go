package dfshuffle_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
)

// TestCommittedAttempts maps one task twice, as a retry after a killed
// worker would (a second attempt number, its own keys): a reducer that
// reads only the committed attempt of each task writes every row once and
// verifies, while one that reads every key has the task's rows twice and
// fails verification. A report from an attempt that is not committed is
// refused.
func TestCommittedAttempts(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	in := writeParquet(t, db, t.TempDir(), 2, 10_000, 2_500, 300)
	for _, committed := range []bool{true, false} {
		p, err := dfshuffle.NewPlan(ctx, smallJob(in, filepath.Join(t.TempDir(), "out"), "key"))
		if err != nil {
			t.Fatal(err)
		}
		store := partd.NewDict()
		var all []int
		for _, task := range p.Tasks {
			all = append(all, task.ID)
		}
		first, err := dfshuffle.MapTasks(ctx, p, all, store, nil) // attempt 0 of every task
		if err != nil {
			t.Fatal(err)
		}
		p.Attempt = 7 // task 1 again, as a replacement process
		again, err := dfshuffle.MapTasks(ctx, p, []int{1}, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		mapped := append(first[:1:1], again[0])
		mapped = append(mapped, first[2:]...)
		if committed {
			p.Committed = map[int]int{}
			for _, m := range mapped {
				p.Committed[m.Task] = m.Attempt
			}
		}
		var parts []int
		for q := range p.Job.Partitions {
			parts = append(parts, q)
		}
		reduced, err := dfshuffle.ReduceParts(ctx, p, parts, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		total, err := dfshuffle.Verify(p, mapped, reduced)
		if committed && (err != nil || total.Rows != 20_000) {
			t.Fatalf("committed attempts: %d rows, %v; want 20,000 verified", total.Rows, err)
		}
		if !committed && err == nil {
			t.Fatal("reading both attempts of task 1 verified")
		}
		if committed {
			_, err := dfshuffle.Verify(p, first, reduced)
			if err == nil || !strings.Contains(err.Error(), "attempt 7 is committed") {
				t.Fatalf("a report of an attempt that is not committed: %v", err)
			}
		}
		p.Abort()
		store.Close()
	}
}
