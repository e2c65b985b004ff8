package bench

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gopartd/partd/internal/workload"
)

//go:embed w4.py
var w4Script []byte

// RunPythonW4 runs W4 (spec.Clients client processes appending at once, then
// one reader) on Python partd 1.3's zmq server over partd.Buffer(Dict,
// File), and measures it as the Go run is measured: append MB/s from the
// first client's start to the last one's end, get MB/s of the reader, and
// the server process's peak RSS.
func RunPythonW4(spec workload.Spec, seed uint64) (Measurement, error) {
	m := Measurement{Workload: spec.ID, Stack: "server", DiskBytes: -1}
	tmp, err := os.MkdirTemp("", "partd-pybench-w4-*")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "w4.py")
	if err := os.WriteFile(script, w4Script, 0o644); err != nil {
		return m, err
	}
	srv := exec.Command(workload.PythonBin, script, "server", filepath.Join(tmp, "store"))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return m, err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return m, err
	}
	if err := srv.Start(); err != nil {
		return m, err
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stdin.Close()
		io.Copy(io.Discard, stdout)
		return srv.Wait()
	}
	defer stop()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		return m, errors.New("python W4 server printed no port")
	}
	addr := "tcp://127.0.0.1:" + strings.TrimSpace(lines.Text())
	arg, _ := json.Marshal(map[string]any{"keys": spec.Keys, "value_size": spec.ValueSize, "appends": spec.Appends,
		"batch": spec.Batch, "get_batch": spec.GetBatch()})

	type report struct {
		Start, End, Seconds float64
		Bytes               int64
	}
	run := func(args ...string) (report, error) {
		var r report
		out, err := exec.Command(workload.PythonBin, append([]string{script}, args...)...).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return r, fmt.Errorf("python W4 %s: %v: %s", args[0], err, ee.Stderr)
			}
			return r, fmt.Errorf("python W4 %s: %w", args[0], err)
		}
		return r, json.Unmarshal(out, &r)
	}
	reports := make([]report, max(spec.Clients, 1))
	errs := make([]error, len(reports))
	var wg sync.WaitGroup
	for i := range reports {
		wg.Go(func() {
			reports[i], errs[i] = run("client", addr, fmt.Sprint(seed*1000+uint64(i)), string(arg))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return m, err
	}
	first, last := reports[0].Start, reports[0].End
	for _, r := range reports {
		first, last = min(first, r.Start), max(last, r.End)
		m.AppendBytes += r.Bytes
	}
	m.AppendMBps = float64(m.AppendBytes) / 1e6 / max(last-first, 1e-9)
	rd, err := run("reader", addr, string(arg))
	if err != nil {
		return m, err
	}
	switch {
	case rd.Bytes > m.AppendBytes:
		return m, fmt.Errorf("python W4: clients appended %d bytes, the reader got %d", m.AppendBytes, rd.Bytes)
	case rd.Bytes < m.AppendBytes:
		m.LostBytes = m.AppendBytes - rd.Bytes // Python partd's own bug: reported, not fatal
	}
	m.GetMBps = float64(rd.Bytes) / 1e6 / max(rd.Seconds, 1e-9)
	stdin.Close()
	if lines.Scan() {
		var p struct {
			PeakRSS int64 `json:"peak_rss"`
		}
		if err := json.Unmarshal(lines.Bytes(), &p); err == nil {
			m.PeakRSS = p.PeakRSS
		}
	}
	return m, stop()
}
