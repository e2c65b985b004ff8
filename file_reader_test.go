package partd_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/encode"
	"github.com/gopartd/partd/partdtest"
)

// bigKeySize is the size of the key TestFileReaderBoundedMemory reads:
// 2 GiB, or 256 MiB under the race detector (which takes about a minute
// per GiB read).
var bigKeySize int64 = 2 << 30

func init() {
	if raceEnabled {
		bigKeySize = 256 << 20
	}
}

// rssLimit is the peak resident memory allowed to the process that reads it.
const rssLimit = 64 << 20

// TestFileReaderBoundedMemory reads a 2 GiB key (256 MiB under -race) of a File store through
// partd.NewReader, and again as int64s through encode's Array.Values, in a
// child process (partdtest.StartHelper) whose peak resident memory
// (VmHWM in /proc/self/status) must stay under 64 MiB; Get would need
// 2 GiB. The key's file is sparse (its own bytes at both ends, a hole of
// zeros between), so the test reads 4 GiB at memory speed without writing
// them to disk.
func TestFileReaderBoundedMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads VmHWM from /proc/self/status")
	}
	if testing.Short() {
		t.Skip("reads 4 GiB")
	}
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	must(t, err)
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	head, tail := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := range head {
		head[i], tail[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	must(t, f.Append(map[string][]byte{"df/big": head}))
	// The hole: the file grows to its size less the tail, which an Append
	// then adds through the store.
	if err := os.Truncate(filepath.Join(dir, "df", "big"), bigKeySize-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	must(t, f.Append(map[string][]byte{"df/big": tail}))
	if sizes, err := f.Sizes("df/big"); err != nil || sizes[0] != bigKeySize {
		t.Fatalf("Sizes = %v, %v; want %d", sizes, err, bigKeySize)
	}
	// What the child must find: the bytes' CRC, and the int64s' sum.
	crc := crc32.ChecksumIEEE(head)
	zeros := make([]byte, 1<<20)
	for n := bigKeySize - int64(len(head)+len(tail)); n > 0; n -= int64(len(zeros)) {
		crc = crc32.Update(crc, crc32.IEEETable, zeros[:min(n, int64(len(zeros)))])
	}
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	sum := sumInt64s(0, head) + sumInt64s(0, tail)

	cmd := partdtest.StartHelper("stream-rss", dir, "df/big")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	got := map[string]uint64{}
	for line := range strings.Lines(string(out)) {
		if name, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			got[name], _ = strconv.ParseUint(v, 10, 64)
		}
	}
	t.Logf("child read %d bytes, then %d int64s; peak RSS %.1f MiB (%.1f MiB before reading)",
		got["bytes"], got["ints"], float64(got["hwm"])/(1<<20), float64(got["hwm0"])/(1<<20))
	if got["bytes"] != uint64(bigKeySize) || uint32(got["crc"]) != crc {
		t.Errorf("the reader read %d bytes with CRC %08x; want %d with %08x", got["bytes"], got["crc"], bigKeySize, crc)
	}
	if got["ints"] != uint64(bigKeySize/8) || int64(got["sum"]) != sum {
		t.Errorf("Values yielded %d int64s summing to %d; want %d summing to %d", got["ints"], int64(got["sum"]), bigKeySize/8, sum)
	}
	if got["hwm"] == 0 || got["hwm"] >= rssLimit {
		t.Errorf("peak RSS of the reading process: %d bytes, want under %d", got["hwm"], rssLimit)
	}
}

// sumInt64s adds the little-endian int64s of b to sum.
func sumInt64s(sum int64, b []byte) int64 {
	for i := 0; i+8 <= len(b); i += 8 {
		sum += int64(binary.LittleEndian.Uint64(b[i:]))
	}
	return sum
}

// runStreamHelper is the child of TestFileReaderBoundedMemory: it reads the
// key args[1] of the File store in args[0] through partd.NewReader, then as
// int64s through encode's Array.Values, and prints what it read and its
// peak resident memory.
func runStreamHelper(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("stream-rss: arguments %q, want a directory and a key", args)
	}
	hwm0, err := peakRSS()
	if err != nil {
		return err
	}
	f, err := partd.OpenFile(args[0], &partd.FileOptions{NoCreate: true})
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := partd.NewReader(f, args[1])
	if err != nil {
		return err
	}
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	if err != nil {
		return err
	}
	if err := r.Close(); err != nil {
		return err
	}
	var ints, sum int64
	for vals, err := range encode.Numeric[int64](f).Values(args[1]) {
		if err != nil {
			return err
		}
		ints += int64(len(vals))
		for _, v := range vals {
			sum += v
		}
	}
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Printf("bytes %d\ncrc %d\nints %d\nsum %d\nhwm0 %d\nhwm %d\n", n, h.Sum32(), ints, uint64(sum), hwm0, hwm)
	return nil
}

// peakRSS returns the process's peak resident memory, VmHWM, in bytes.
func peakRSS() (int64, error) {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
