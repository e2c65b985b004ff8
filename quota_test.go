//go:build linux

package partd_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/errorfs"
	"github.com/gopartd/partd/partdtest"
)

// TestQuotaLimit: past the limit an Append or Set is refused with
// ErrFull and writes nothing; reads, deletes and Pop go on; compaction
// after deletes makes room again. The count covers a Buffer's memory.
func TestQuotaLimit(t *testing.T) {
	for _, stack := range []string{"log", "buffer-log", "zstd-buffer-log"} {
		t.Run(stack, func(t *testing.T) {
			l, err := partd.OpenLog(t.TempDir(), &partd.LogOptions{CompactGarbage: -1, Logger: quietLog})
			must(t, err)
			var s partd.Store = l
			switch stack {
			case "buffer-log":
				s = partd.NewBuffer(partd.NewDict(), l, 1<<20)
			case "zstd-buffer-log":
				s = compress.Zstd(partd.NewBuffer(partd.NewDict(), l, 1<<20))
			}
			q, err := partd.NewQuota(s, 200_000)
			must(t, err)
			defer q.Close()
			value := make([]byte, 10_000) // 10 kB that do not compress
			rand.NewChaCha8([32]byte{1}).Read(value)
			acked := 0
			for ; ; acked++ {
				err := q.Append(map[string][]byte{"a": value})
				if err != nil {
					if !errors.Is(err, partd.ErrFull) || !strings.Contains(err.Error(), "of 200000 bytes") {
						t.Fatalf("append %d: %v, want ErrFull naming the limit", acked, err)
					}
					break
				}
				if acked > 100 {
					t.Fatal("the limit was never reached")
				}
			}
			if acked < 10 || q.Usage() > 200_000 {
				t.Fatalf("%d appends of 10 kB acknowledged, usage %d, under a limit of 200,000", acked, q.Usage())
			}
			if err := q.Set("b", value); !errors.Is(err, partd.ErrFull) {
				t.Fatalf("Set past the limit: %v", err)
			}
			if got := getOne(t, q, "a"); len(got) != acked*len(value) {
				t.Fatalf("a holds %d bytes after %d acknowledged appends", len(got), acked)
			}
			if got := getOne(t, q, "b"); got != "" {
				t.Fatalf("the refused Set wrote %d bytes", len(got))
			}
			must(t, q.Delete("a"))
			must(t, partd.Flush(q))
			must(t, l.Compact())
			must(t, q.Append(map[string][]byte{"a": value})) // room again
		})
	}
	if _, err := partd.NewQuota(partd.NewDict(), 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("a quota over a Dict: %v, want ErrUnsupported", err)
	}
}

// TestQuotaFullDisk: on a real full disk (a small tmpfs) the error is
// ErrFull, with ENOSPC inside, the failed Append wrote nothing, and the
// store goes on serving reads.
func TestQuotaFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	l, err := partd.OpenLog(dir, &partd.LogOptions{CompactGarbage: -1, Logger: quietLog})
	must(t, err)
	q, err := partd.NewQuota(partd.NewBuffer(partd.NewDict(), l, 16<<10), 0) // no limit: the disk's
	must(t, err)
	defer q.Close()
	value := bytes.Repeat([]byte{'x'}, 5000)
	acked := 0
	for ; ; acked++ {
		err := q.Append(map[string][]byte{"a": value, "b": value})
		if err != nil {
			if !errors.Is(err, partd.ErrFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ErrFull and ENOSPC", acked, err)
			}
			break
		}
	}
	if a, b := getOne(t, q, "a"), getOne(t, q, "b"); len(a) != acked*5000 || len(b) != acked*5000 {
		t.Fatalf("after %d acknowledged appends: a %d, b %d bytes", acked, len(a), len(b))
	}
}

// TestQuotaConformance: a Quota with room to spare is the store below it,
// capabilities included, by the contract suite.
func TestQuotaConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		q, err := partd.NewQuota(partd.NewBuffer(partd.NewDict(), smallLog(t, t.TempDir()), 4<<10), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return q
	})
}

// TestQuotaInjectedFullDisk: through the fault-injection seam, a disk that
// fills mid-record is ErrFull through a Quota, the failed Append wrote
// nothing, and appends go on once there is room.
func TestQuotaInjectedFullDisk(t *testing.T) {
	l := smallLog(t, t.TempDir())
	inj := &errorfs.Injector{}
	partd.InjectLogFaults(l, inj)
	q, err := partd.NewQuota(l, 0)
	must(t, err)
	defer q.Close()
	inj.FailWritesAfter(10_000, syscall.ENOSPC)
	acked := 0
	for ; ; acked++ {
		err := q.Append(map[string][]byte{"a": bytes.Repeat([]byte{'a'}, 700)})
		if err != nil {
			if !errors.Is(err, partd.ErrFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ErrFull and ENOSPC", acked, err)
			}
			break
		}
	}
	if a := getOne(t, q, "a"); len(a) != acked*700 {
		t.Fatalf("a: %d bytes after %d acknowledged appends", len(a), acked)
	}
	inj.Heal()
	must(t, q.Append(map[string][]byte{"a": []byte("room again")}))
}
