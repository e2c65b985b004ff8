package dfshuffle_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server"
)

// TestMain: the test binary doubles as a map or reduce worker process, as
// the partd binary does for `partd shuffle`: started as the partdtest
// helper "dfshuffle-map" or "dfshuffle-reduce", it runs that worker and
// exits.
func TestMain(m *testing.M) {
	partdtest.MainWithHelpers(m, nil, map[string]partdtest.Helper{
		"dfshuffle-map":    func(args []string) error { return child("map", args) },
		"dfshuffle-reduce": func(args []string) error { return child("reduce", args) },
	})
}

// child runs one worker; args are the plan's path, the server's address
// and the tasks or partitions, comma separated. It writes Message lines to
// stdout.
func child(role string, args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("%s worker: arguments %q, want plan, address and items", role, args)
	}
	ctx := context.Background()
	p, err := dfshuffle.ReadPlan(args[0])
	if err != nil {
		return err
	}
	var items []int
	for _, s := range strings.Split(args[2], ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		items = append(items, n)
	}
	c, err := client.Dial(args[1])
	if err != nil {
		return err
	}
	defer c.Close()
	enc := json.NewEncoder(os.Stdout)
	msg := dfshuffle.Message{Done: true}
	switch role {
	case "map":
		msg.Mapped, err = dfshuffle.MapTasks(ctx, p, items, c, func(rows int64) { enc.Encode(dfshuffle.Message{Progress: rows}) })
	case "reduce":
		msg.Reduced, err = dfshuffle.ReduceParts(ctx, p, items, c, func(n int) { enc.Encode(dfshuffle.Message{Progress: int64(n)}) })
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		return err
	}
	msg.PeakRSS = workload.PeakRSS()
	return enc.Encode(msg)
}

// runChildren runs one worker process per list of items and returns their
// final messages.
func runChildren(t testing.TB, role, planPath, addr string, lists [][]int) ([]dfshuffle.Message, error) {
	out := make([]dfshuffle.Message, len(lists))
	errs := make([]error, len(lists))
	var wg sync.WaitGroup
	for i, items := range lists {
		strs := make([]string, len(items))
		for j, n := range items {
			strs[j] = strconv.Itoa(n)
		}
		cmd := partdtest.StartHelper("dfshuffle-"+role, planPath, addr, strings.Join(strs, ","))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 256<<20)
			for sc.Scan() {
				var m dfshuffle.Message
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					errs[i] = err
				} else if m.Done {
					out[i] = m
				}
			}
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Errorf("%s worker %d: %w", role, i, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// procsResult is what a shuffle run with worker processes measured.
type procsResult struct {
	sum                   *dfshuffle.Summary
	mapTime, reduceTime   time.Duration
	workerRSS, reducerRSS int64
}

// runProcs runs job as `partd shuffle` does: a server in this process over
// a Buffer of memory bytes (off-heap Dict) over a Log, workers worker
// processes, then as many reducer processes.
func runProcs(t testing.TB, job dfshuffle.Job, memory int64, workers int) (procsResult, error) {
	var res procsResult
	log, err := partd.NewLog(t.TempDir())
	if err != nil {
		return res, err
	}
	sock, err := os.MkdirTemp("", "dfs-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(sock)
	buf := partd.NewBuffer(partd.NewOffHeapDict(), log, memory)
	srv, err := server.New(buf, "ipc://"+filepath.Join(sock, "s"), server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return res, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	// As partd shuffle stops its embedded server: the data is dropped first,
	// so that the server's shutdown has nothing to flush to the Log.
	defer func() { buf.Drop(); srv.Close(); <-served }()

	ctx := context.Background()
	p, err := dfshuffle.NewPlan(ctx, job)
	if err != nil {
		return res, err
	}
	defer p.Abort()
	planPath, err := p.Save()
	if err != nil {
		return res, err
	}
	start := time.Now()
	mapped, err := runChildren(t, "map", planPath, srv.Addr(), dfshuffle.AssignTasks(p, workers))
	if err != nil {
		return res, err
	}
	res.mapTime = time.Since(start)
	start = time.Now()
	reduced, err := runChildren(t, "reduce", planPath, srv.Addr(), dfshuffle.AssignPartitions(job.Partitions, workers))
	if err != nil {
		return res, err
	}
	res.reduceTime = time.Since(start)
	res.sum = &dfshuffle.Summary{Plan: p}
	for _, m := range mapped {
		res.sum.Mapped = append(res.sum.Mapped, m.Mapped...)
		res.workerRSS = max(res.workerRSS, m.PeakRSS)
	}
	for _, m := range reduced {
		res.sum.Reduced = append(res.sum.Reduced, m.Reduced...)
		res.reducerRSS = max(res.reducerRSS, m.PeakRSS)
	}
	if res.sum.Total, err = dfshuffle.Verify(p, res.sum.Mapped, res.sum.Reduced); err != nil {
		return res, err
	}
	return res, p.Commit()
}

// TestWorkerProcessesMemory runs a shuffle with worker processes of this
// binary through a server whose Buffer holds 64 KiB, and checks the result
// with DuckDB.
func TestWorkerProcessesMemory(t *testing.T) {
	db := openDuckDB(t)
	in := t.TempDir()
	paths := writeParquet(t, db, in, 2, 10000, 2500, 997)
	out := filepath.Join(t.TempDir(), "out")
	job := smallJob(paths, out, "key")
	res, err := runProcs(t, job, 64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, res.sum, parquetList(paths), out, job.By, 20000)
}
