// Package bench is the tested logic behind `partd bench`: it builds the
// stores the canonical workloads (internal/workload, WORKLOADS.md) run
// on, runs one workload on one stack and measures it, takes medians over
// runs, and writes the Markdown table, Go beside Python partd 1.3.
//
// The command line runs each measurement in a child process, so that the
// peak RSS it reports belongs to that workload alone.
package bench

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/storeuri"
)

// Stacks are the stores a workload can run on, with the names of the Python
// baseline's (workload.RunPython) where Python partd has the same stack: the
// write policies alone (dict, file, log), a Buffer over a File (buffer) or
// over a Log (buffer-log), and each compression layer over a File store.
// Python partd has no Log: log and buffer-log are compared with its file and
// buffer (workload.PythonStack). "server" is W4's: a partd server serving a
// Buffer over a Log, appended to by client processes.
var Stacks = []string{"dict", "file", "log", "buffer", "buffer-log", "zlib", "snappy", "zstd", "server"}

// DefaultBufferLimit is the Buffer limit of the buffer stacks for workloads
// without a memory limit of their own (only W5 has one), as in the Python
// baseline.
const DefaultBufferLimit = 1e9

// DefaultStacks returns the stacks a workload runs on when none are named:
// the write policies for W1-W3, the server for W4, a Buffer over each
// policy that spills for W5 and every compression layer for W6.
func DefaultStacks(spec workload.Spec) []string {
	switch spec.ID {
	case "W4":
		return []string{"server"}
	case "W5":
		return []string{"buffer", "buffer-log"}
	case "W6":
		return []string{"zlib", "snappy", "zstd"}
	}
	return []string{"dict", "file", "log"}
}

// IsBuffer reports whether stack is a Buffer over a store on disk.
func IsBuffer(stack string) bool { return stack == "buffer" || stack == "buffer-log" }

// Applies reports whether stack can run spec: W4 runs only on the server,
// and the server stack only runs W4.
func Applies(spec workload.Spec, stack string) bool {
	return (spec.ID == "W4") == (stack == "server")
}

// OpenStack opens the named stack for spec with its File or Log store (if
// any) in dir, through the one stack builder every command uses (package
// storeuri).
func OpenStack(stack string, spec workload.Spec, dir string) (partd.Store, error) {
	s := storeuri.Spec{Scheme: "file", Dir: dir}
	switch stack {
	case "dict":
		s = storeuri.Spec{Scheme: "mem"}
	case "file":
	case "log":
		s.Scheme = "log"
	case "buffer":
		s.Memory = BufferLimit(spec)
	case "buffer-log":
		s.Scheme, s.Memory = "log", BufferLimit(spec)
	case "zlib", "snappy", "zstd":
		setting, err := compress.Parse(stack)
		if err != nil {
			return nil, err
		}
		s.Compress = setting
	default:
		return nil, fmt.Errorf("unknown stack %q (want one of %s)", stack, strings.Join(Stacks, ", "))
	}
	return s.Open(nil)
}

// BufferLimit is the buffer stacks' memory limit for spec.
func BufferLimit(spec workload.Spec) int64 {
	if spec.MemLimit > 0 {
		return spec.MemLimit
	}
	return DefaultBufferLimit
}

// Measurement is what one run of one workload on one stack measured.
type Measurement struct {
	Workload    string  `json:"workload"`
	Stack       string  `json:"stack"`
	AppendBytes int64   `json:"append_bytes"`
	AppendMBps  float64 `json:"append_mbps"`
	GetMBps     float64 `json:"get_mbps"`
	// GetIntoMBps is the read-back into reused buffers (partd.GetAppend;
	// see workload.Run); 0 where not measured (W4, Python).
	GetIntoMBps float64 `json:"get_into_mbps,omitempty"`
	PeakRSS     int64   `json:"peak_rss"`   // bytes; 0 if unknown
	DiskBytes   int64   `json:"disk_bytes"` // bytes on disk after the run; -1 for none (dict)
	// LostBytes is what the clients appended that the reader never got:
	// Python partd's W4, whose client returns before the server applied an
	// append, loses some. (A Go run that loses anything fails instead.)
	LostBytes int64 `json:"lost_bytes,omitempty"`
}

// FromResult converts a workload result.
func FromResult(stack string, r workload.Result) Measurement {
	return Measurement{Workload: r.Spec.ID, Stack: stack, AppendBytes: r.AppendBytes,
		AppendMBps: r.AppendMBps(), GetMBps: r.GetMBps(), GetIntoMBps: r.GetIntoMBps(), PeakRSS: r.PeakRSS, DiskBytes: -1}
}

// Run runs spec on stack in this process, with its files in a temporary
// directory, and measures it. As in the Python baseline, the buffer stacks
// are not flushed inside the timed appends; it is flushed afterwards, untimed, so
// that bytes on disk count everything.
func Run(spec workload.Spec, stack string, seed uint64) (Measurement, error) {
	dir, err := os.MkdirTemp("", "partd-bench-*")
	if err != nil {
		return Measurement{}, err
	}
	defer os.RemoveAll(dir)
	s, err := OpenStack(stack, spec, dir)
	if err != nil {
		return Measurement{}, err
	}
	// No memory limit for the runtime: the buffer stacks' Dict keeps its
	// bytes off the heap (partd.NewOffHeapDict), so the process stays near
	// the limit without one.
	res, err := workload.Run(spec, s, seed)
	if err != nil {
		s.Close()
		return Measurement{}, fmt.Errorf("%s on %s: %w", spec.ID, stack, err)
	}
	if b, ok := s.(*partd.Buffer); ok {
		if err := b.Flush(); err != nil {
			s.Close()
			return Measurement{}, err
		}
	}
	m := FromResult(stack, res)
	if stack != "dict" {
		if m.DiskBytes, err = DirBytes(dir); err != nil {
			s.Close()
			return m, err
		}
	}
	m.PeakRSS = workload.PeakRSS()
	return m, s.Close()
}

// DirBytes returns the total size of the regular files under dir, not
// counting hidden files (a File store's lock, a Log's marker).
func DirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// Median returns the median of each figure over ms (the mean of the two
// middle ones for an even count). ms must not be empty.
func Median(ms []Measurement) Measurement {
	out := ms[0]
	out.AppendMBps = median(ms, func(m Measurement) float64 { return m.AppendMBps })
	out.GetMBps = median(ms, func(m Measurement) float64 { return m.GetMBps })
	out.GetIntoMBps = median(ms, func(m Measurement) float64 { return m.GetIntoMBps })
	out.PeakRSS = int64(median(ms, func(m Measurement) float64 { return float64(m.PeakRSS) }))
	out.DiskBytes = int64(median(ms, func(m Measurement) float64 { return float64(m.DiskBytes) }))
	for _, m := range ms {
		out.LostBytes = max(out.LostBytes, m.LostBytes)
	}
	return out
}

func median(ms []Measurement, f func(Measurement) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Row is one line of the table: a workload on a stack, in Go and, if
// measured, in Python partd.
type Row struct {
	Spec workload.Spec
	Go   Measurement
	Py   *Measurement // nil: not measured
	// PyNote says why Py is nil when Python was asked for.
	PyNote string
}

// WriteTable writes the rows as a Markdown table, with the Python columns
// and ratios when python is set. Python partd has no get into the caller's
// buffers: "get-into ×py" compares Go's with Python's plain get.
func WriteTable(w io.Writer, rows []Row, python bool) error {
	bw := bufio.NewWriter(w)
	head := []string{"workload", "stack", "append MB/s", "get MB/s", "get-into MB/s", "peak RSS", "on disk"}
	if python {
		head = append(head, "py append MB/s", "py get MB/s", "py peak RSS", "append ×py", "get ×py", "get-into ×py")
	}
	fmt.Fprintf(bw, "| %s |\n|", strings.Join(head, " | "))
	for i := range head {
		if i < 2 {
			bw.WriteString(" --- |")
		} else {
			bw.WriteString(" ---: |")
		}
	}
	bw.WriteString("\n")
	for _, r := range rows {
		cells := []string{
			fmt.Sprintf("%s %s (%s)", r.Spec.ID, r.Spec.Name, FormatBytes(r.Spec.TotalBytes()*int64(max(r.Spec.Clients, 1)))),
			r.Go.Stack, rate(r.Go.AppendMBps), rate(r.Go.GetMBps), optRate(r.Go.GetIntoMBps), rss(r.Go.PeakRSS), disk(r.Go),
		}
		if python {
			if r.Py == nil {
				note := r.PyNote
				if note == "" {
					note = "—"
				}
				cells = append(cells, note, "—", "—", "—", "—", "—")
			} else {
				cells = append(cells, rate(r.Py.AppendMBps), rate(r.Py.GetMBps), rss(r.Py.PeakRSS),
					ratio(r.Go.AppendMBps, r.Py.AppendMBps), ratio(r.Go.GetMBps, r.Py.GetMBps),
					ratio(r.Go.GetIntoMBps, r.Py.GetMBps))
			}
		}
		fmt.Fprintf(bw, "| %s |\n", strings.Join(cells, " | "))
	}
	for _, r := range rows {
		if r.Py != nil && r.Py.LostBytes > 0 {
			fmt.Fprintf(bw, "\nPython partd lost up to %s of the %s its clients appended in %s (its client returns before the server has applied an append).\n",
				FormatBytes(r.Py.LostBytes), FormatBytes(r.Py.AppendBytes), r.Spec.ID)
		}
	}
	return bw.Flush()
}

func rate(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// optRate is rate, or "—" for a figure not measured.
func optRate(v float64) string {
	if v <= 0 {
		return "—"
	}
	return rate(v)
}

func rss(n int64) string {
	if n <= 0 {
		return "—"
	}
	return FormatBytes(n)
}

func disk(m Measurement) string {
	if m.DiskBytes < 0 {
		return "—"
	}
	s := FormatBytes(m.DiskBytes)
	if m.DiskBytes > 0 && (m.Stack == "zlib" || m.Stack == "snappy" || m.Stack == "zstd") {
		s += fmt.Sprintf(" (%.2f× smaller)", float64(m.AppendBytes)/float64(m.DiskBytes))
	}
	return s
}

func ratio(goV, pyV float64) string {
	if pyV <= 0 || goV <= 0 || math.IsInf(goV/pyV, 0) { // not measured
		return "—"
	}
	if r := goV / pyV; r < 0.01 {
		return "<0.01×"
	}
	return fmt.Sprintf("%.2f×", goV/pyV)
}

// FormatBytes formats a byte count in binary units: "256 MiB", "1.5 GiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 || v >= 100 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// Machine describes this machine for the table's header: cores, CPU model,
// Go version, OS and architecture.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
