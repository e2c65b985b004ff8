package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/workload"
)

func TestRunEveryStack(t *testing.T) {
	for _, stack := range Stacks {
		if stack == "server" {
			continue
		}
		t.Run(stack, func(t *testing.T) {
			spec := workload.W6.Scaled(0.002) // compressible, so the layers shrink it
			m, err := Run(spec, stack, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.AppendBytes != spec.TotalBytes() || m.AppendMBps <= 0 || m.GetMBps <= 0 || m.GetIntoMBps <= 0 || m.PeakRSS <= 0 {
				t.Errorf("measurement %+v", m)
			}
			switch stack {
			case "dict":
				if m.DiskBytes != -1 {
					t.Errorf("dict on disk: %d", m.DiskBytes)
				}
			case "file", "buffer":
				if m.DiskBytes != spec.TotalBytes() {
					t.Errorf("%s on disk: %d, want %d", stack, m.DiskBytes, spec.TotalBytes())
				}
			case "log", "buffer-log":
				// The values and the records' heads and checksums.
				if m.DiskBytes < spec.TotalBytes() || m.DiskBytes > spec.TotalBytes()*3/2 {
					t.Errorf("%s on disk: %d, want about %d", stack, m.DiskBytes, spec.TotalBytes())
				}
			default:
				if m.DiskBytes <= 0 || m.DiskBytes >= spec.TotalBytes()*9/10 {
					t.Errorf("%s on disk: %d of %d text bytes", stack, m.DiskBytes, spec.TotalBytes())
				}
			}
		})
	}
	if _, err := OpenStack("lz4", workload.W1, t.TempDir()); err == nil {
		t.Error("unknown stack opened")
	}
}

// TestOpenStackLog checks what the Log stacks are: a Log, and a Buffer over
// a Log at the workload's memory limit, with their files in dir.
func TestOpenStackLog(t *testing.T) {
	for _, stack := range []string{"log", "buffer-log"} {
		dir := t.TempDir()
		s, err := OpenStack(stack, workload.W5.Scaled(0.01), dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, isBuffer := s.(*partd.Buffer); isBuffer != IsBuffer(stack) {
			t.Errorf("%s: %T", stack, s)
		}
		if err := s.Append(map[string][]byte{"k": []byte("value")}); err != nil {
			t.Fatal(err)
		}
		if err := partd.Flush(s); err != nil {
			t.Fatal(err)
		}
		if n, err := DirBytes(dir); err != nil || n <= int64(len("value")) {
			t.Errorf("%s: %d bytes on disk, %v", stack, n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		l, err := partd.OpenLog(dir, &partd.LogOptions{NoCreate: true})
		if err != nil {
			t.Fatalf("%s: its directory is no Log: %v", stack, err)
		}
		if v, err := l.Get("k"); err != nil || string(v[0]) != "value" {
			t.Errorf("%s: the Log holds %q, %v", stack, v, err)
		}
		l.Close()
	}
}

// TestRunLogStacks runs the workloads the Log stacks run by default, W1
// (on log) and W5 (on buffer-log, which spills).
func TestRunLogStacks(t *testing.T) {
	for _, c := range []struct {
		spec  workload.Spec
		stack string
	}{{workload.W1.Scaled(0.005), "log"}, {workload.W5.Scaled(0.005), "buffer-log"}} {
		m, err := Run(c.spec, c.stack, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.Stack != c.stack || m.AppendBytes != c.spec.TotalBytes() || m.AppendMBps <= 0 || m.GetMBps <= 0 ||
			m.GetIntoMBps <= 0 || m.PeakRSS <= 0 || m.DiskBytes < c.spec.TotalBytes() {
			t.Errorf("%s on %s: %+v", c.spec.ID, c.stack, m)
		}
	}
}

func TestApplies(t *testing.T) {
	if !Applies(workload.W4, "server") || Applies(workload.W4, "file") || Applies(workload.W1, "server") || !Applies(workload.W1, "zstd") {
		t.Error("Applies is wrong")
	}
	if !Applies(workload.W1, "log") || !Applies(workload.W5, "buffer-log") || Applies(workload.W4, "log") || Applies(workload.W4, "buffer-log") {
		t.Error("Applies is wrong for the Log stacks")
	}
	for _, spec := range workload.All {
		stacks := DefaultStacks(spec)
		for _, s := range stacks {
			if !Applies(spec, s) {
				t.Errorf("default stack %s does not apply to %s", s, spec.ID)
			}
			if !slices.Contains(Stacks, s) {
				t.Errorf("default stack %s of %s is not in Stacks", s, spec.ID)
			}
		}
		// The Log runs wherever File does, and a Buffer over it wherever
		// one over File does.
		if slices.Contains(stacks, "file") != slices.Contains(stacks, "log") ||
			slices.Contains(stacks, "buffer") != slices.Contains(stacks, "buffer-log") {
			t.Errorf("%s runs on %v", spec.ID, stacks)
		}
	}
	for _, id := range []string{"W1", "W2", "W3"} {
		if spec, _ := workload.ByID(id); !slices.Contains(DefaultStacks(spec), "log") {
			t.Errorf("%s does not run on log by default", id)
		}
	}
	if !slices.Contains(DefaultStacks(workload.W5), "buffer-log") {
		t.Error("W5 does not run on buffer-log by default")
	}
}

func TestMedian(t *testing.T) {
	ms := []Measurement{{AppendMBps: 3, GetMBps: 10, GetIntoMBps: 9, PeakRSS: 5, DiskBytes: 1}, {AppendMBps: 1, GetMBps: 30, GetIntoMBps: 40, PeakRSS: 7, DiskBytes: 1}, {AppendMBps: 2, GetMBps: 20, GetIntoMBps: 15, PeakRSS: 6, DiskBytes: 1}}
	m := Median(ms)
	if m.AppendMBps != 2 || m.GetMBps != 20 || m.GetIntoMBps != 15 || m.PeakRSS != 6 || m.DiskBytes != 1 {
		t.Errorf("Median = %+v", m)
	}
	if m := Median(ms[:2]); m.AppendMBps != 2 || m.GetMBps != 20 {
		t.Errorf("Median of two = %+v", m)
	}
}

func TestWriteTable(t *testing.T) {
	spec := workload.W6.Scaled(0.1)
	rows := []Row{
		{Spec: spec, Go: Measurement{Stack: "zstd", AppendBytes: 1000, AppendMBps: 250, GetMBps: 12.5, GetIntoMBps: 50, PeakRSS: 50 << 20, DiskBytes: 250},
			Py: &Measurement{AppendMBps: 100, GetMBps: 25, PeakRSS: 40 << 20}},
		{Spec: workload.W4, Go: Measurement{Stack: "server", AppendMBps: 1, GetMBps: 1, DiskBytes: -1}, PyNote: "not run"},
		{Spec: workload.W4, Go: Measurement{Stack: "server", AppendMBps: 2, GetMBps: 4, DiskBytes: 0}, Py: &Measurement{AppendMBps: 1, GetMBps: 1}},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{
		"| workload | stack | append MB/s | get MB/s | get-into MB/s | peak RSS | on disk | py append MB/s | py get MB/s | py peak RSS | append ×py | get ×py | get-into ×py |",
		"| W6 text-compress (25.6 MiB) | zstd | 250 | 12.5 | 50.0 | 50 MiB | 250 B (4.00× smaller) | 100 | 25.0 | 40 MiB | 2.50× | 0.50× | 2.00× |",
		"| W4 server-shuffle (256 MiB) | server | 1.0 | 1.0 | — | — | — | not run | — | — | — | — | — |",
		"| W4 server-shuffle (256 MiB) | server | 2.0 | 4.0 | — | — | 0 B | 1.0 | 1.0 | — | 2.00× | 4.00× | — |"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteTable(&b, rows[:1], false)
	if strings.Contains(b.String(), "py") {
		t.Errorf("table without python has python columns:\n%s", b.String())
	}
	b.Reset()
	lossy := Row{Spec: workload.W4, Go: Measurement{Stack: "server"}, Py: &Measurement{AppendBytes: 4 << 20, LostBytes: 1 << 20}}
	WriteTable(&b, []Row{lossy}, true)
	if want := "Python partd lost up to 1 MiB of the 4 MiB its clients appended in W4"; !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 256 << 20: "256 MiB", 100 << 20: "100 MiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMachine(t *testing.T) {
	m := Machine()
	if !strings.Contains(m, "cores") || !strings.Contains(m, "go1.") {
		t.Errorf("Machine() = %q", m)
	}
}

func TestDirBytes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "x"), make([]byte, 10), 0o644)
	os.WriteFile(filepath.Join(dir, "y"), make([]byte, 5), 0o644)
	os.WriteFile(filepath.Join(dir, ".lock"), make([]byte, 7), 0o644)
	if n, err := DirBytes(dir); err != nil || n != 15 {
		t.Errorf("DirBytes = %d, %v", n, err)
	}
}

func TestW4ClientReader(t *testing.T) {
	spec := workload.W4.Scaled(0.01)
	s := partd.NewDict()
	defer s.Close()
	var total int64
	for c := range 2 {
		start, end, n, err := W4Client(s, spec, uint64(c))
		if err != nil || end.Before(start) || n != spec.TotalBytes() {
			t.Fatalf("W4Client = %v %v %d %v", start, end, n, err)
		}
		total += n
	}
	n, d, err := W4Reader(s, spec)
	if err != nil || n != total || d <= 0 || d > time.Minute {
		t.Fatalf("W4Reader = %d %v %v, want %d bytes", n, d, err, total)
	}
}

func TestRunPythonW4(t *testing.T) {
	spec := workload.W4.Scaled(0.005)
	m, err := RunPythonW4(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.AppendBytes != int64(spec.Clients)*spec.TotalBytes() || m.AppendMBps <= 0 || m.GetMBps <= 0 || m.PeakRSS <= 0 {
		t.Errorf("measurement %+v", m)
	}
}
