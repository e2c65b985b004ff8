package server_test

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/server/wire"
)

func TestRemoteClose(t *testing.T) {
	store := partd.NewDict()
	s, err := server.New(store, "", server.WithRemoteClose(true), server.WithLogger(quiet))
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	c := dial(t, s.Addr())
	must(t, c.Append(map[string][]byte{"a": []byte("1")}))
	must(t, c.CloseServer())
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after a remote close")
	}
	if _, err := store.Get("a"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("store after remote close: %v, want ErrClosed", err)
	}
	must(t, s.Close())
	if err := s.Serve(); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve again: %v", err)
	}
}

// TestGracefulShutdown: Close while clients append; every append that
// returned nil is in the store after shutdown, which flushed the Buffer to
// its File and closed it.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	file, err := partd.NewFile(dir)
	must(t, err)
	buf := partd.NewBuffer(partd.NewDict(), file, 1<<30)
	s, err := server.New(buf, "", server.WithLogger(quiet), server.WithWorkers(2))
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	c, err := client.Dial(s.Addr(), client.WithTimeout(time.Second))
	must(t, err)
	defer c.Close()

	var wg sync.WaitGroup
	acked := make([]int, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := c.Append(map[string][]byte{fmt.Sprintf("g/%d", g): fmt.Appendf(nil, "%05d", i)})
				if err != nil {
					if !errors.Is(err, partd.ErrClosed) && !errors.Is(err, client.ErrTimeout) {
						t.Errorf("append during shutdown: %v", err)
					}
					return
				}
				acked[g] = i + 1
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	must(t, s.Close())
	must(t, <-done)
	wg.Wait()

	// The data is on disk: a new File over the directory sees it.
	f2, err := partd.NewFile(dir)
	must(t, err)
	defer f2.Close()
	total := 0
	for g := range 8 {
		vs, err := f2.Get(fmt.Sprintf("g/%d", g))
		must(t, err)
		var want bytes.Buffer
		for i := range acked[g] {
			fmt.Fprintf(&want, "%05d", i)
		}
		// Every acked append is there, in order; at most one more (applied
		// but its answer lost to the shutdown) may follow.
		if !bytes.HasPrefix(vs[0], want.Bytes()) || len(vs[0]) > want.Len()+5 {
			t.Fatalf("g/%d holds %d bytes, %d appends were acknowledged", g, len(vs[0]), acked[g])
		}
		total += acked[g]
	}
	if total == 0 {
		t.Fatal("no append was acknowledged before Close")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, partd.NewDict(), "", server.WithMetrics(reg))
	c := dial(t, s.Addr())
	for range 5 {
		must(t, c.Append(map[string][]byte{"k": make([]byte, 100)}))
	}
	c.Get("k")
	c.Get("..")
	p := newRawPeer(t, s.Addr())
	p.send("bogus")
	p.expectPyError("bad-request")

	if n := metricValue(t, reg, "partd_server_requests_total", "command", "append"); n != 5 {
		t.Errorf("append requests = %v", n)
	}
	if n := metricValue(t, reg, "partd_server_errors_total", "code", "invalid-key"); n != 1 {
		t.Errorf("invalid-key errors = %v", n)
	}
	if n := metricValue(t, reg, "partd_server_errors_total", "command", "other"); n != 1 {
		t.Errorf("unknown-command errors = %v", n)
	}
	if n := metricValue(t, reg, "partd_server_store_bytes", "", ""); n != 500 {
		t.Errorf("store bytes = %v", n)
	}
	mfs, err := reg.Gather()
	must(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"partd_server_received_bytes_total", "partd_server_sent_bytes_total",
		"partd_server_request_duration_seconds", "partd_server_requests_in_flight"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("metric %s missing from %q", want, names)
		}
	}
	// A second server on the same registry is refused while the first runs.
	if _, err := server.New(partd.NewDict(), "", server.WithMetrics(reg)); err == nil {
		t.Error("duplicate metrics registration accepted")
	}
}

// metricValue returns the sum of the counters or gauges named name whose
// label has the value (all of them, if label is "").
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	found := false
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if match {
				found = true
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	if !found {
		t.Fatalf("no metric %s{%s=%q}", name, label, value)
	}
	return sum
}

// TestMetricsFromStats: the metrics and the stat reply are one set of
// figures, every series exists from the start, and a Buffer's figures are
// exported, also under a compression layer.
func TestMetricsFromStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	buf := partd.NewBuffer(partd.NewDict(), partd.NewDict(), 1000)
	s := startServer(t, compress.Zstd(buf), "", server.WithMetrics(reg))
	// Before any request: every command and code at 0.
	mfs, err := reg.Gather()
	must(t, err)
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if n := series["partd_server_errors_total"]; n < 10*8 {
		t.Errorf("errors_total has %d series before any error, want every command and code", n)
	}
	if n := series["partd_server_requests_total"]; n < 10 {
		t.Errorf("requests_total has %d series before any request", n)
	}
	for _, name := range []string{"partd_buffer_memory_bytes", "partd_buffer_limit_bytes", "partd_buffer_spills_total",
		"partd_buffer_spilled_keys_total", "partd_buffer_spilled_bytes_total", "partd_buffer_spill_seconds_total"} {
		if series[name] != 1 {
			t.Errorf("no %s for a zstd layer over a Buffer", name)
		}
	}
	if n := metricValue(t, reg, "partd_server_errors_total", "code", "busy"); n != 0 {
		t.Errorf("busy errors before any request = %v", n)
	}

	c := dial(t, s.Addr())
	for i := range 3 {
		rnd := make([]byte, 600) // incompressible: the second Append spills the first
		crand.Read(rnd)
		must(t, c.Append(map[string][]byte{fmt.Sprintf("k%d", i): rnd}))
	}
	c.Get("..")
	st, err := c.Stat()
	must(t, err)
	if got := metricValue(t, reg, "partd_server_requests_total", "command", "append"); got != float64(st.Requests["append"]) || got != 3 {
		t.Errorf("requests_total{append} = %v, stat says %d", got, st.Requests["append"])
	}
	if got := metricValue(t, reg, "partd_server_errors_total", "", ""); got != float64(st.Errors) || got != 1 {
		t.Errorf("errors_total = %v, stat says %d", got, st.Errors)
	}
	if got := metricValue(t, reg, "partd_server_received_bytes_total", "", ""); got < float64(st.BytesIn) || got == 0 {
		t.Errorf("received_bytes_total = %v, stat says %d", got, st.BytesIn)
	}
	bs := buf.Stats()
	if bs.Spills == 0 || bs.SpilledBytes == 0 || bs.SpilledKeys == 0 || bs.Limit != 1000 {
		t.Fatalf("Buffer.Stats after spilling: %+v", bs)
	}
	if got := metricValue(t, reg, "partd_buffer_spills_total", "", ""); got != float64(bs.Spills) {
		t.Errorf("spills_total = %v, Stats says %d", got, bs.Spills)
	}
	if got := metricValue(t, reg, "partd_buffer_spilled_bytes_total", "", ""); got != float64(bs.SpilledBytes) {
		t.Errorf("spilled_bytes_total = %v, Stats says %d", got, bs.SpilledBytes)
	}
	if got := metricValue(t, reg, "partd_buffer_memory_bytes", "", ""); got != float64(bs.FastBytes) || got == 0 || got > 1000 {
		t.Errorf("memory_bytes = %v, Stats says %d", got, bs.FastBytes)
	}
}

// TestMetricsThroughWrappers: the store gauges follow the capabilities of
// the store under a compression layer: a layer over a File (no Sizer, no
// Buffer) registers neither the store_bytes gauge nor the Buffer's figures.
func TestMetricsThroughWrappers(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	must(t, err)
	reg := prometheus.NewRegistry()
	startServer(t, compress.Zstd(f), "", server.WithMetrics(reg))
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if name := mf.GetName(); name == "partd_server_store_bytes" || strings.HasPrefix(name, "partd_buffer_") {
			t.Errorf("a zstd layer over a File exports %s", name)
		}
	}
}

// TestClientRefusesOverCap: the Go client learns the server's message cap in
// its handshake and refuses a larger request with a too-large error at once,
// rather than sending one frame libzmq would drop the connection for.
func TestClientRefusesOverCap(t *testing.T) {
	s := startServer(t, partd.NewDict(), "", server.WithMaxMessageSize(64<<10))
	c := dial(t, s.Addr())
	start := time.Now()
	err := c.Append(map[string][]byte{"k": make([]byte, 100<<10)})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeTooLarge {
		t.Fatalf("Append over the cap: %v, want a too-large error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusing took %v", d)
	}
	// Just under the cap passes, and the client is still usable.
	must(t, c.Append(map[string][]byte{"k": make([]byte, 60<<10)}))
	if vs := mustGet(t, c, "k"); len(vs[0]) != 60<<10 {
		t.Fatalf("got %d bytes", len(vs[0]))
	}
}
