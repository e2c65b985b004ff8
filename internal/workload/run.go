package workload

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopartd/partd"
)

// Result is what one run of a workload measured.
type Result struct {
	Spec        Spec
	AppendBytes int64         // payload appended
	GetBytes    int64         // payload read back
	AppendTime  time.Duration // time spent inside Append calls (plus Flush, if any)
	GetTime     time.Duration // time spent inside Get calls
	PeakRSS     int64         // peak resident set of the process so far, bytes (0 if unknown)
	AppendRSS   int64         // the same, when the appends were done
}

// AppendMBps is the append throughput in MB/s (10^6 bytes).
func (r Result) AppendMBps() float64 { return mbps(r.AppendBytes, r.AppendTime) }

// GetMBps is the get throughput in MB/s (10^6 bytes).
func (r Result) GetMBps() float64 { return mbps(r.GetBytes, r.GetTime) }

func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / 1e6 / d.Seconds()
}

// Run appends the workload's batches to s, then gets every key once, and
// checks that every appended byte came back. Each Get asks for up to 1,000
// keys and about 4 MiB, so reading back holds little memory. Only time inside
// the store's calls counts; generating the data does not.
func Run(spec Spec, s partd.Store, seed uint64) (Result, error) {
	res := Result{Spec: spec}
	for batch := range spec.Batches(seed) {
		var n int64
		for _, v := range batch {
			n += int64(len(v))
		}
		start := time.Now()
		if err := s.Append(batch); err != nil {
			return res, err
		}
		res.AppendTime += time.Since(start)
		res.AppendBytes += n
	}
	res.AppendRSS = PeakRSS()
	keys := spec.KeyNames()
	step := spec.GetBatch()
	for i := 0; i < len(keys); i += step {
		chunk := keys[i:min(i+step, len(keys))]
		start := time.Now()
		vals, err := s.Get(chunk...)
		if err != nil {
			return res, err
		}
		res.GetTime += time.Since(start)
		for _, v := range vals {
			res.GetBytes += int64(len(v))
		}
	}
	if res.GetBytes != res.AppendBytes {
		return res, fmt.Errorf("workload %s: appended %d bytes, got back %d", spec.ID, res.AppendBytes, res.GetBytes)
	}
	res.PeakRSS = PeakRSS()
	return res, nil
}

// GetBatch is how many keys one Get of the read-back asks for: up to 1,000
// keys and about 4 MiB.
func (s Spec) GetBatch() int {
	perKey := max(s.TotalBytes()/int64(max(s.Keys, 1)), 1)
	return int(min(max(4<<20/perKey, 1), 1000))
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM),
// or 0 where /proc does not tell.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
