package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/gopartd/partd"
)

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestGetStreamsLargeKey: partd get writes a 1 GiB key of a File store (a
// sparse file) to stdout in a process whose peak RSS stays within 16 MiB
// of what it is for a 4-byte key: it reads the key through
// partd.NewReader, not with Get.
func TestGetStreamsLargeKey(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS from Linux's rusage")
	}
	if testing.Short() {
		t.Skip("writes 1 GiB through a pipe")
	}
	t.Parallel()
	const size = 1 << 30
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Append(map[string][]byte{"big": []byte("head")}); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(filepath.Join(dir, "big"), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Append(map[string][]byte{"small": []byte("tiny")}); err != nil {
		t.Fatal(err)
	}
	// The peak RSS of get: of a small key (the program's own), and of the
	// big one.
	get := func(key string) (written, peak int64) {
		cmd := exec.Command(partdBinary(t), "get", "--dir", dir, key)
		cmd.Env = cliEnv()
		var out countWriter
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		return out.n, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	}
	_, base := get("small")
	n, peak := get("big")
	if n != size {
		t.Errorf("get wrote %d bytes, want %d", n, size)
	}
	t.Logf("partd get: peak RSS %.1f MiB for a 1 GiB key, %.1f MiB for 4 bytes", float64(peak)/(1<<20), float64(base)/(1<<20))
	if peak-base >= 16<<20 {
		t.Errorf("partd get of a 1 GiB key peaked at %d bytes of RSS, %d more than for 4 bytes; want under 16 MiB more", peak, peak-base)
	}
}
