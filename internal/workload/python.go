package workload

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

//go:embed bench.py
var pythonBench []byte

// PythonBin is the interpreter that has Debian's python3-partd.
const PythonBin = "/usr/bin/python3"

// PythonStack returns the Python partd stack a Go stack is measured
// against: the same one, except that Python partd has no Log, so the log
// stack is compared with its File and buffer-log with its Buffer(Dict, File).
func PythonStack(stack string) string {
	switch stack {
	case "log":
		return "file"
	case "buffer-log":
		return "buffer"
	}
	return stack
}

// RunPython runs the workload on Python partd 1.3 with the named stack
// (dict, file, buffer, zlib, snappy, zstd) in a child process and returns
// what it measured. dir is the store's directory ("" for a temporary one).
func RunPython(spec Spec, stack, dir string, seed uint64) (Result, error) {
	tmp, err := os.MkdirTemp("", "partd-pybench-*")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "bench.py")
	if err := os.WriteFile(script, pythonBench, 0o644); err != nil {
		return Result{}, err
	}
	arg, _ := json.Marshal(map[string]any{
		"keys": spec.Keys, "value_size": spec.ValueSize, "appends": spec.Appends, "batch": spec.Batch,
		"text": spec.Text, "mem_limit": spec.MemLimit, "stack": stack, "dir": dir, "seed": seed,
		"get_batch": spec.GetBatch(),
	})
	out, err := exec.Command(PythonBin, script, string(arg)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return Result{}, fmt.Errorf("python partd %s %s: %v: %s", spec.ID, stack, err, ee.Stderr)
		}
		return Result{}, fmt.Errorf("python partd %s %s: %w", spec.ID, stack, err)
	}
	var r struct {
		AppendBytes   int64   `json:"append_bytes"`
		GetBytes      int64   `json:"get_bytes"`
		AppendSeconds float64 `json:"append_seconds"`
		GetSeconds    float64 `json:"get_seconds"`
		PeakRSS       int64   `json:"peak_rss"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return Result{}, fmt.Errorf("python partd %s %s: bad output %q: %w", spec.ID, stack, out, err)
	}
	res := Result{Spec: spec, AppendBytes: r.AppendBytes, GetBytes: r.GetBytes, PeakRSS: r.PeakRSS,
		AppendTime: time.Duration(r.AppendSeconds * float64(time.Second)),
		GetTime:    time.Duration(r.GetSeconds * float64(time.Second))}
	if res.GetBytes != res.AppendBytes {
		return res, fmt.Errorf("python partd %s %s: appended %d bytes, got back %d", spec.ID, stack, res.AppendBytes, res.GetBytes)
	}
	return res, nil
}
