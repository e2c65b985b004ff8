package workload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"time"
)

// Store is what Run needs of a store; every partd.Store is one. (Package
// workload, under internal/, imports nothing from the root package.)
type Store interface {
	Append(data map[string][]byte) error
	Get(keys ...string) ([][]byte, error)
}

// getAppender is partd.GetAppender.
type getAppender interface {
	GetAppend(dst [][]byte, keys ...string) ([][]byte, error)
}

// getAppend reads keys into dst as partd.GetAppend does: with s's own
// GetAppend if it has one (and does not report errors.ErrUnsupported),
// else with Get, appending each value to dst[i].
func getAppend(s Store, dst [][]byte, keys []string) ([][]byte, error) {
	if ga, ok := s.(getAppender); ok {
		out, err := ga.GetAppend(dst, keys...)
		if !errors.Is(err, errors.ErrUnsupported) {
			return out, err
		}
	}
	vals, err := s.Get(keys...)
	if err != nil || len(vals) != len(dst) {
		return vals, err
	}
	for i := range vals {
		dst[i] = append(dst[i], vals[i]...)
	}
	return dst, nil
}

// Result is what one run of a workload measured.
type Result struct {
	Spec         Spec
	AppendBytes  int64         // payload appended
	GetBytes     int64         // payload read back with Get
	GetIntoBytes int64         // payload read back again with partd.GetAppend
	AppendTime   time.Duration // time spent inside Append calls (plus Flush, if any)
	GetTime      time.Duration // time spent inside Get calls
	GetIntoTime  time.Duration // time spent inside partd.GetAppend calls, into reused buffers
	PeakRSS      int64         // peak resident set of the process so far, bytes (0 if unknown)
	AppendRSS    int64         // the same, when the appends were done
}

// AppendMBps is the append throughput in MB/s (10^6 bytes).
func (r Result) AppendMBps() float64 { return mbps(r.AppendBytes, r.AppendTime) }

// GetMBps is the get throughput in MB/s (10^6 bytes).
func (r Result) GetMBps() float64 { return mbps(r.GetBytes, r.GetTime) }

// GetIntoMBps is the throughput of the read-back into reused buffers
// (partd.GetAppend) in MB/s (10^6 bytes).
func (r Result) GetIntoMBps() float64 { return mbps(r.GetIntoBytes, r.GetIntoTime) }

func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / 1e6 / d.Seconds()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Run appends the workload's batches to s, then reads every key back twice
// and checks that every appended byte came back, in order, both times.
//
// The first read-back is plain Get, which returns slices the caller owns.
// The second is GetAppend (as partd.GetAppend reads) into buffers reused from call to call (each
// truncated to [:0] and passed again), as a caller that cares for speed
// reads: with a store that is a partd.GetAppender, it allocates nothing once
// the buffers have grown. Each read-back asks for spec.GetBatch() keys per
// call: by default up to 1,000 keys and about 4 MiB, so it holds little
// memory; with spec.GetKeys 1, one key per call, as a reducer reads.
//
// Only time inside the store's calls counts; generating the data and
// checking what came back (a CRC-32C per key) do not.
func Run(spec Spec, s Store, seed uint64) (Result, error) {
	res := Result{Spec: spec}
	r := &run{spec: spec, s: s, keys: spec.KeyNames()}
	if err := r.appendAll(&res, seed); err != nil {
		return res, err
	}
	res.AppendRSS = PeakRSS()
	if err := r.readBack(&res); err != nil {
		return res, err
	}
	if err := r.readBackInto(&res); err != nil {
		return res, err
	}
	res.PeakRSS = PeakRSS()
	return res, nil
}

// run is one Run: the store, the workload's keys, and the CRC-32C of each
// key's appended bytes.
type run struct {
	spec Spec
	s    Store
	keys []string
	sums []uint32
}

// appendAll appends the workload's batches, timing the Appends and summing
// each key's bytes.
func (r *run) appendAll(res *Result, seed uint64) error {
	index := make(map[string]int, len(r.keys))
	for i, k := range r.keys {
		index[k] = i
	}
	r.sums = make([]uint32, len(r.keys))
	for batch := range r.spec.Batches(seed) {
		var n int64
		for k, v := range batch {
			n += int64(len(v))
			i := index[k]
			r.sums[i] = crc32.Update(r.sums[i], castagnoli, v)
		}
		start := time.Now()
		if err := r.s.Append(batch); err != nil {
			return err
		}
		res.AppendTime += time.Since(start)
		res.AppendBytes += n
	}
	return nil
}

// check counts the bytes of vals, the values of keys[first:] that pass
// read, and checks them against what was appended.
func (r *run) check(pass string, first int, vals [][]byte) (int64, error) {
	var n int64
	for j, v := range vals {
		n += int64(len(v))
		if crc32.Checksum(v, castagnoli) != r.sums[first+j] {
			return n, fmt.Errorf("workload %s: %s of %s returned %d bytes that are not those appended",
				r.spec.ID, pass, r.keys[first+j], len(v))
		}
	}
	return n, nil
}

// readBack reads every key back with Get, a batch of keys at a time.
func (r *run) readBack(res *Result) error {
	step := r.spec.GetBatch()
	for i := 0; i < len(r.keys); i += step {
		chunk := r.keys[i:min(i+step, len(r.keys))]
		start := time.Now()
		vals, err := r.s.Get(chunk...)
		if err != nil {
			return err
		}
		res.GetTime += time.Since(start)
		if len(vals) != len(chunk) {
			return fmt.Errorf("workload %s: Get of %d keys returned %d values", r.spec.ID, len(chunk), len(vals))
		}
		n, err := r.check("Get", i, vals)
		res.GetBytes += n
		if err != nil {
			return err
		}
	}
	if res.GetBytes != res.AppendBytes {
		return fmt.Errorf("workload %s: appended %d bytes, got back %d", r.spec.ID, res.AppendBytes, res.GetBytes)
	}
	return nil
}

// readBackInto reads every key back again with GetAppend into buffers
// reused from call to call.
func (r *run) readBackInto(res *Result) error {
	step := r.spec.GetBatch()
	bufs := make([][]byte, step) // reused by every call: bufs[j] is the buffer of a call's jth key
	for i := 0; i < len(r.keys); i += step {
		chunk := r.keys[i:min(i+step, len(r.keys))]
		dst := bufs[:len(chunk)]
		for j := range dst {
			dst[j] = dst[j][:0]
		}
		start := time.Now()
		vals, err := getAppend(r.s, dst, chunk)
		if err != nil {
			return err
		}
		res.GetIntoTime += time.Since(start)
		if len(vals) != len(chunk) {
			return fmt.Errorf("workload %s: GetAppend of %d keys returned %d values", r.spec.ID, len(chunk), len(vals))
		}
		copy(bufs, vals) // keep what grew for the next call
		n, err := r.check("GetAppend", i, vals)
		res.GetIntoBytes += n
		if err != nil {
			return err
		}
	}
	if res.GetIntoBytes != res.AppendBytes {
		return fmt.Errorf("workload %s: appended %d bytes, got back %d with GetAppend", r.spec.ID, res.AppendBytes, res.GetIntoBytes)
	}
	return nil
}

// GetBatch is how many keys one Get of the read-back asks for: GetKeys if
// set, else up to 1,000 keys and about 4 MiB.
func (s Spec) GetBatch() int {
	if s.GetKeys > 0 {
		return s.GetKeys
	}
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
