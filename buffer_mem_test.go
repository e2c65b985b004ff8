package partd_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/workload"
)

// BenchmarkBufferMemory runs W5 (1 GB in 1 KiB values over 1,000 keys,
// read back) through the README's idiom, NewBuffer(NewDict(), log, 64 MiB),
// and through an off-heap Dict, without GOMEMLIMIT, and reports the
// process's peak resident set over what it held before (peak-MiB, append
// and get phases together) and its append and get MB/s. Run one at a time,
// so that the peak is this run's:
//
//	go test -run '^$' -bench 'BufferMemory/^heap$' -benchtime 1x .
//
// PARTD_BENCH_SCALE shrinks the workload (and the limit with it).
func BenchmarkBufferMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		fast func() *partd.Dict
	}{{"heap", partd.NewDict}, {"offheap", partd.NewOffHeapDict}} {
		b.Run(tc.name, func(b *testing.B) {
			spec := workload.W5.Scaled(benchScale())
			base := workload.PeakRSS()
			var res workload.Result
			var anon, file int64
			for b.Loop() {
				log, err := partd.OpenLog(b.TempDir(), &partd.LogOptions{Logger: quietLog})
				if err != nil {
					b.Fatal(err)
				}
				buf := partd.NewBuffer(tc.fast(), log, spec.MemLimit)
				if res, err = workload.Run(spec, buf, 1); err != nil {
					b.Fatal(err)
				}
				anon, file = statusKiB("RssAnon:"), statusKiB("RssFile:")
				if err := buf.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(res.AppendBytes)
			b.ReportMetric(float64(res.PeakRSS-base)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(res.AppendRSS-base)/(1<<20), "append-peak-MiB")
			b.ReportMetric(float64(anon)/1024, "end-anon-MiB")
			b.ReportMetric(float64(file)/1024, "end-file-MiB")
			b.ReportMetric(res.AppendMBps(), "append-MB/s")
			b.ReportMetric(res.GetMBps(), "get-MB/s")
		})
	}
}

// statusKiB returns a field of /proc/self/status in KiB, or 0.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
