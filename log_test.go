package partd_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/errorfs"
	"github.com/gopartd/partd/partdtest"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// smallLog opens a Log with small segments, so tests cross segment
// boundaries and compact often.
func smallLog(t testing.TB, dir string) *partd.Log {
	t.Helper()
	l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 4 << 10, CompactMinBytes: 8 << 10, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLogConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store { return smallLog(t, t.TempDir()) })
}

func TestLogDefaultsConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		l, err := partd.NewLog("")
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestLogReopen(t *testing.T) {
	partdtest.RunReopen(t, func(t *testing.T, dir string) partd.Store { return smallLog(t, dir) })
}

func TestLogTemporaryDirRemoved(t *testing.T) {
	l, err := partd.NewLog("")
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Dir()
	must(t, l.Append(map[string][]byte{"k": []byte("v")}))
	must(t, l.Close())
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary directory %s left behind: %v", dir, err)
	}
}

// TestLogRefusesOtherDirectories: a Log never adopts user files or a File
// store, and NoCreate creates nothing.
func TestLogRefusesOtherDirectories(t *testing.T) {
	user := t.TempDir()
	os.WriteFile(filepath.Join(user, "notes.txt"), []byte("hi"), 0o644)
	if _, err := partd.NewLog(user); !errors.Is(err, partd.ErrNotStore) {
		t.Errorf("NewLog on a directory of user files: %v, want ErrNotStore", err)
	}
	fileDir := t.TempDir()
	f, err := partd.NewFile(fileDir)
	must(t, err)
	must(t, f.Append(map[string][]byte{"k": []byte("v")}))
	f.Close()
	if _, err := partd.NewLog(fileDir); !errors.Is(err, partd.ErrNotStore) || !strings.Contains(err.Error(), "File store") {
		t.Errorf("NewLog on a File store: %v, want ErrNotStore naming the File store", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := partd.OpenLog(missing, &partd.LogOptions{NoCreate: true}); err == nil {
		t.Errorf("NoCreate opened a directory that does not exist")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NoCreate created %s", missing)
	}
}

// TestLogOneProcess: a second opener, in this process or another, gets
// ErrLocked at once, and the directory is usable again after Close.
func TestLogOneProcess(t *testing.T) {
	dir := t.TempDir()
	l := smallLog(t, dir)
	must(t, l.Append(map[string][]byte{"k": []byte("v")}))
	start := time.Now()
	if _, err := partd.NewLog(dir); !errors.Is(err, partd.ErrLocked) || !strings.Contains(err.Error(), "partd serve") {
		t.Errorf("second open in this process: %v, want ErrLocked pointing at partd serve", err)
	}
	helper := partdtest.StartHelper("log-open", dir, "-", "-")
	helper.Stderr = nil
	out, err := helper.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "store in use by another process") {
		t.Errorf("second open in another process: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusing took %v", d)
	}
	must(t, l.Close())
	l = smallLog(t, dir)
	defer l.Close()
	if got := getOne(t, l, "k"); got != "v" {
		t.Errorf("after reopen: %q", got)
	}
}

func getOne(t testing.TB, s partd.Store, key string) string {
	t.Helper()
	v, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(v[0])
}

// TestLogCompaction: deleted and replaced bytes come back, live bytes stay,
// across reopen.
func TestLogCompaction(t *testing.T) {
	dir := t.TempDir()
	l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 64 << 10, CompactGarbage: -1, Logger: quietLog})
	must(t, err)
	want := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		v := bytes.Repeat([]byte{byte(i)}, 1+rng.IntN(300))
		switch rng.IntN(10) {
		case 0:
			must(t, l.Delete(k))
			delete(want, k)
		case 1:
			must(t, l.Set(k, v))
			want[k] = v
		default:
			must(t, l.Append(map[string][]byte{k: v}))
			want[k] = append(want[k], v...)
		}
	}
	// A key larger than a compaction chunk.
	big := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16+3)
	must(t, l.Append(map[string][]byte{"big": big[:3<<20]}))
	must(t, l.Append(map[string][]byte{"big": big[3<<20:]}))
	want["big"] = big
	before := l.Stats()
	must(t, l.Compact())
	after := l.Stats()
	if after.Bytes >= before.Bytes || after.LiveBytes != before.LiveBytes || after.Compactions != 1 {
		t.Errorf("compaction: %+v -> %+v; want fewer bytes, the same live bytes", before, after)
	}
	checkLog(t, l, want)
	must(t, l.Compact()) // again, over compacted segments
	checkLog(t, l, want)
	must(t, l.Close())
	l = smallLog(t, dir)
	defer l.Close()
	checkLog(t, l, want)
	if st := l.Stats(); st.LiveBytes != after.LiveBytes || st.TornRecords != 0 {
		t.Errorf("after reopen: %+v", st)
	}
}

func checkLog(t *testing.T, s partd.Store, want map[string][]byte) {
	t.Helper()
	keys, err := s.Keys()
	must(t, err)
	if len(keys) != len(want) {
		t.Fatalf("%d keys, want %d", len(keys), len(want))
	}
	vals, err := s.Get(keys...)
	must(t, err)
	for i, k := range keys {
		if !bytes.Equal(vals[i], want[k]) {
			t.Fatalf("key %s: %d bytes, want %d", k, len(vals[i]), len(want[k]))
		}
	}
}

// TestLogCompactsWhileWriting: background compactions run while goroutines
// append, set and delete; every acknowledged change is seen.
func TestLogCompactsWhileWriting(t *testing.T) {
	dir := t.TempDir()
	l := smallLog(t, dir)
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string][]byte{}
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 400 {
				k := fmt.Sprintf("w%d/k%02d", w, rng.IntN(20))
				v := []byte(fmt.Sprintf("<%d:%d>", w, i))
				mu.Lock() // each writer's keys are its own; the lock keeps want in step
				switch rng.IntN(6) {
				case 0:
					must(t, l.Delete(k))
					delete(want, k)
				case 1:
					must(t, l.Set(k, v))
					want[k] = v
				default:
					must(t, l.Append(map[string][]byte{k: v}))
					want[k] = append(want[k], v...)
				}
				mu.Unlock()
				if i%50 == 0 {
					if _, err := l.Get(k); err != nil {
						t.Error(err)
					}
					time.Sleep(time.Millisecond) // let a background compaction in
				}
			}
		})
	}
	wg.Wait()
	checkLog(t, l, want)
	// Close waits for a background compaction still running, so the count
	// is final only after it.
	must(t, l.Close())
	if st := l.Stats(); st.Compactions == 0 {
		t.Errorf("no compaction ran: %+v", st)
	}
	l = smallLog(t, dir)
	defer l.Close()
	checkLog(t, l, want)
}

// lastSegment returns the path of the newest segment file in dir.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var last string
	var size int64 = -1
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 && p > last {
			last, size = p, fi.Size()
		}
	}
	if size < 0 {
		t.Fatalf("no segment in %s", dir)
	}
	return last
}

// TestLogTornTail: a record cut short, or with a flipped bit, is cut off on
// open and reported; what came before stays.
func TestLogTornTail(t *testing.T) {
	for _, damage := range []string{"cut", "flip", "garbage"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			l := smallLog(t, dir)
			must(t, l.Append(map[string][]byte{"a": []byte("first"), "b": []byte("first")}))
			must(t, l.Append(map[string][]byte{"a": []byte("-second"), "b": []byte("-second")}))
			must(t, l.Close())
			seg := lastSegment(t, dir)
			b, _ := os.ReadFile(seg)
			switch damage {
			case "cut":
				b = b[:len(b)-3]
			case "flip":
				b[len(b)-2] ^= 0x40
			case "garbage":
				b = append(b, "not a record at all"...)
			}
			os.WriteFile(seg, b, 0o644)
			l = smallLog(t, dir)
			defer l.Close()
			want := "first-second"
			if damage != "garbage" {
				want = "first" // the second batch is gone, whole
			}
			if a, b := getOne(t, l, "a"), getOne(t, l, "b"); a != want || b != want {
				t.Errorf("a=%q b=%q, want %q for both", a, b, want)
			}
			if st := l.Stats(); st.TornRecords != 1 || st.TornBytes == 0 {
				t.Errorf("stats %+v: want one torn record reported", st)
			}
			// The log goes on after the cut.
			must(t, l.Append(map[string][]byte{"a": []byte("+more")}))
			l.Close()
			l = smallLog(t, dir)
			if got := getOne(t, l, "a"); got != want+"+more" || l.Stats().TornRecords != 0 {
				t.Errorf("after an append and reopen: %q, %+v", got, l.Stats())
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes ("64k", "4m") on a new
// temporary directory: a disk that really fills up. It needs root (CI runs
// as root); TestLogInjectedFaults and TestFileInjectedFaults fill a disk
// without it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("mounting a tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestLogFullDisk: on a real full disk, an Append that fails wrote nothing
// and the log goes on once there is room.
func TestLogFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	l, err := partd.OpenLog(dir, &partd.LogOptions{CompactGarbage: -1, Logger: quietLog})
	must(t, err)
	defer l.Close()
	acked := appendUntilFull(t, l, 5000)
	if got := getOne(t, l, "a"); len(got) != acked*5000 {
		t.Fatalf("a holds %d bytes after %d acknowledged appends of 5000", len(got), acked)
	}
	must(t, l.Close())
	l2, err := partd.OpenLog(dir, &partd.LogOptions{Logger: quietLog})
	must(t, err)
	defer l2.Close()
	if a, b := getOne(t, l2, "a"), getOne(t, l2, "b"); len(a) != acked*5000 || len(b) != acked*5000 || l2.Stats().TornRecords != 0 {
		t.Fatalf("after reopen: a %d, b %d bytes, %+v; want %d each, nothing torn", len(a), len(b), l2.Stats(), acked*5000)
	}
	must(t, l2.Drop())
	must(t, l2.Append(map[string][]byte{"a": []byte("room again")}))
}

// appendUntilFull appends n bytes to keys a and b until an Append fails,
// which must be with ENOSPC, and returns how many were acknowledged.
func appendUntilFull(t *testing.T, l *partd.Log, n int) int {
	t.Helper()
	for acked := 0; ; acked++ {
		err := l.Append(map[string][]byte{"a": bytes.Repeat([]byte{'a'}, n), "b": bytes.Repeat([]byte{'b'}, n)})
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ENOSPC", acked, err)
			}
			return acked
		}
	}
}

// logBatchKeys are the keys every batch of the crash test writes.
const logBatchKeys = 8

// runLogHelper is the Log helpers' side: args are the directory, an
// argument and a spare.
func runLogHelper(role string, args []string) error {
	dir := args[0]
	switch role {
	case "log-open":
		l, err := partd.NewLog(dir)
		if err == nil {
			l.Close()
		}
		return err
	case "log-crasher":
		// Appends batches of logBatchKeys keys, each key a record of the
		// batch number, sets ctl to the batch number, and deletes and
		// re-creates scratch keys so compactions run; it prints each batch
		// number once both calls returned.
		l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 32 << 10, CompactMinBytes: 16 << 10, Logger: quietLog})
		if err != nil {
			return err
		}
		out := bufio.NewWriter(os.Stdout)
		blob := bytes.Repeat([]byte("blob"), 1<<20)
		for n := 0; ; n++ {
			batch := make(map[string][]byte, logBatchKeys+2)
			for k := range logBatchKeys {
				batch[fmt.Sprintf("k%d", k)] = fmt.Appendf(nil, "<%07d>", n)
			}
			batch[fmt.Sprintf("scratch/%d", n%50)] = bytes.Repeat([]byte{'s'}, 300)
			if n%5 == 0 {
				// A record of several megabytes: a kill can land inside
				// its write, which tears it.
				batch["blob"] = blob
			}
			if err := l.Append(batch); err != nil {
				return err
			}
			if err := l.Set("ctl", fmt.Appendf(nil, "%d", n)); err != nil {
				return err
			}
			if n%7 == 0 {
				if err := l.Delete(fmt.Sprintf("scratch/%d", (n+25)%50)); err != nil {
					return err
				}
			}
			fmt.Fprintln(out, n)
			out.Flush()
		}
	}
	return fmt.Errorf("unknown role %s", role)
}

// TestLogCrashAtomicBatches SIGKILLs a writer at random moments, many
// times, over one directory. After each kill the reopened log holds every
// batch whose Append returned, each batch whole or absent, in order.
func TestLogCrashAtomicBatches(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	kills := 20
	if testing.Short() {
		kills = 5
	}
	lastAcked := -1
	var torn int
	for kill := range kills {
		cmd := partdtest.StartHelper("log-crasher", dir, "-", "-")
		cmd.Stderr = nil
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		acked := make(chan int, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				n, _ := strconv.Atoi(sc.Text())
				acked <- n
			}
			close(acked)
		}()
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for n := range acked {
			lastAcked = max(lastAcked, n+kill*1_000_000)
		}
		l, err := partd.OpenLog(dir, &partd.LogOptions{Logger: quietLog, CompactGarbage: -1})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", kill, err)
		}
		torn += l.Stats().TornRecords
		// Every key holds the same batches, each once, in order: the
		// batches are whole or absent.
		vals, err := l.Get("k0")
		must(t, err)
		first := string(vals[0])
		for k := 1; k < logBatchKeys; k++ {
			v, err := l.Get(fmt.Sprintf("k%d", k))
			must(t, err)
			if string(v[0]) != first {
				t.Fatalf("kill %d: k%d differs from k0: a batch is partly there", kill, k)
			}
		}
		if len(first)%9 != 0 {
			t.Fatalf("kill %d: k0 holds a torn record (%d bytes)", kill, len(first))
		}
		// This run's batches restart at 0 after the earlier runs' ones.
		var runBatches []int
		for i := 0; i < len(first); i += 9 {
			n, err := strconv.Atoi(first[i+1 : i+8])
			must(t, err)
			if len(runBatches) > 0 && n == 0 {
				runBatches = runBatches[:0]
			}
			if len(runBatches) > 0 && n != runBatches[len(runBatches)-1]+1 {
				t.Fatalf("kill %d: batch %d after %d", kill, n, runBatches[len(runBatches)-1])
			}
			runBatches = append(runBatches, n)
		}
		thisRun := lastAcked - kill*1_000_000
		if thisRun >= 0 && (len(runBatches) == 0 || runBatches[len(runBatches)-1] < thisRun) {
			t.Fatalf("kill %d: batch %d was acknowledged but the log ends at %v", kill, thisRun, runBatches[max(len(runBatches)-1, 0):])
		}
		if ctl := getOne(t, l, "ctl"); thisRun >= 0 {
			if n, err := strconv.Atoi(ctl); err != nil || n < thisRun {
				t.Fatalf("kill %d: ctl = %q, but Set(ctl, %d) returned", kill, ctl, thisRun)
			}
		}
		must(t, l.Close())
	}
	t.Logf("%d kills, %d torn records cut off on reopen", kills, torn)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLogTornTailSuite(t *testing.T) {
	partdtest.RunTornTail(t, partdtest.TornTail{
		Open:   func(t *testing.T, dir string) partd.Store { return smallLog(t, dir) },
		Atomic: true,
		Tear: func(t *testing.T, dir string) {
			seg := lastSegment(t, dir)
			fi, err := os.Stat(seg)
			must(t, err)
			must(t, os.Truncate(seg, fi.Size()-5))
		},
	})
}

// TestLogInjectedFaults: through the fault-injection seam, without root or
// a real device: a disk that fills mid-record, an fsync that fails, and a
// failed write whose undo fails too. An Append that returns an error wrote
// nothing; one that returns nil is there after reopen.
func TestLogInjectedFaults(t *testing.T) {
	t.Run("disk full", func(t *testing.T) {
		dir := t.TempDir()
		l := smallLog(t, dir)
		inj := &errorfs.Injector{}
		partd.InjectLogFaults(l, inj)
		inj.FailWritesAfter(10_000, syscall.ENOSPC)
		acked := appendUntilFull(t, l, 700)
		if a := getOne(t, l, "a"); len(a) != acked*700 {
			t.Fatalf("a: %d bytes after %d acknowledged appends", len(a), acked)
		}
		inj.Heal()
		must(t, l.Append(map[string][]byte{"a": []byte("room again")}))
		must(t, l.Close())
		l = smallLog(t, dir)
		defer l.Close()
		if a := getOne(t, l, "a"); len(a) != acked*700+len("room again") || l.Stats().TornRecords != 0 {
			t.Fatalf("after reopen: a %d bytes, %+v", len(a), l.Stats())
		}
	})
	t.Run("fsync fails", func(t *testing.T) {
		dir := t.TempDir()
		l, err := partd.OpenLog(dir, &partd.LogOptions{Sync: true, Logger: quietLog})
		must(t, err)
		inj := &errorfs.Injector{}
		partd.InjectLogFaults(l, inj)
		must(t, l.Append(map[string][]byte{"k": []byte("kept")}))
		inj.FailSync(syscall.EIO)
		if err := l.Append(map[string][]byte{"k": []byte("-lost")}); !errors.Is(err, syscall.EIO) {
			t.Fatalf("append with a failing fsync: %v, want EIO", err)
		}
		if err := l.Flush(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Flush with a failing fsync: %v, want EIO", err)
		}
		inj.Heal()
		if got := getOne(t, l, "k"); got != "kept" {
			t.Fatalf("k = %q: the failed append shows", got)
		}
		must(t, l.Close())
		l = smallLog(t, dir)
		defer l.Close()
		if got := getOne(t, l, "k"); got != "kept" {
			t.Fatalf("after reopen k = %q", got)
		}
	})
	t.Run("compaction fails", func(t *testing.T) {
		// The replacement's writes go through the seam too: a compaction
		// that fails leaves no temporary file and every byte where it was.
		dir := t.TempDir()
		l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 4 << 10, CompactGarbage: -1, Logger: quietLog})
		must(t, err)
		defer l.Close()
		want := map[string][]byte{}
		for i := range 20 {
			live, dead := fmt.Sprintf("live/%d", i), fmt.Sprintf("dead/%d", i)
			want[live] = bytes.Repeat([]byte{byte('a' + i)}, 1000)
			must(t, l.Append(map[string][]byte{live: want[live], dead: want[live]}))
			must(t, l.Delete(dead))
		}
		inj := &errorfs.Injector{}
		partd.InjectLogFaults(l, inj)
		inj.FailWritesAfter(100, syscall.ENOSPC)
		if err := l.Compact(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("compaction on a full disk: %v, want ENOSPC", err)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
			t.Fatalf("a failed compaction left %q", tmp)
		}
		checkLog(t, l, want)
		inj.Heal()
		must(t, l.Compact())
		checkLog(t, l, want)
		must(t, l.Close())
		l = smallLog(t, dir)
		defer l.Close()
		checkLog(t, l, want)
	})
	t.Run("undo fails", func(t *testing.T) {
		dir := t.TempDir()
		l := smallLog(t, dir)
		inj := &errorfs.Injector{}
		partd.InjectLogFaults(l, inj)
		must(t, l.Append(map[string][]byte{"k": []byte("kept")}))
		inj.FailWritesAfter(3, syscall.ENOSPC)
		inj.FailTruncate(syscall.EIO)
		if err := l.Append(map[string][]byte{"k": []byte("-torn")}); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append: %v, want ENOSPC", err)
		}
		inj.Heal()
		// The log cannot vouch for its tail: it takes no more writes, and
		// a reopen cuts the torn record off.
		if err := l.Append(map[string][]byte{"k": []byte("-after")}); err == nil || !strings.Contains(err.Error(), "stops taking writes") {
			t.Fatalf("append after a failed undo: %v", err)
		}
		must(t, l.Close())
		l = smallLog(t, dir)
		defer l.Close()
		if got := getOne(t, l, "k"); got != "kept" || l.Stats().TornRecords != 1 {
			t.Fatalf("after reopen k = %q, %+v; want kept and one torn record cut", got, l.Stats())
		}
	})
}
