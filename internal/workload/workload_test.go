package workload

import (
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

func TestBatchesAreDeterministicAndComplete(t *testing.T) {
	for _, spec := range All {
		spec = spec.Scaled(0.001)
		var total int64
		perKey := map[string]int{}
		for batch := range spec.Batches(1) {
			if len(batch) > spec.Batch {
				t.Fatalf("%s: batch of %d pairs, want ≤ %d", spec.ID, len(batch), spec.Batch)
			}
			for k, v := range batch {
				total += int64(len(v))
				perKey[k]++
				if len(v) != spec.ValueSize {
					t.Fatalf("%s: value of %d bytes", spec.ID, len(v))
				}
			}
		}
		if total != spec.TotalBytes() || len(perKey) != spec.Keys {
			t.Fatalf("%s: %d bytes over %d keys, want %d over %d", spec.ID, total, len(perKey), spec.TotalBytes(), spec.Keys)
		}
		first := func(seed uint64) string {
			for b := range spec.Batches(seed) {
				return string(b[Key(0)])
			}
			return ""
		}
		a, again, other := first(1), first(1), first(2)
		if a != again || a == other {
			t.Fatalf("%s: batches are not a function of the seed", spec.ID)
		}
	}
}

func TestRunChecksEveryByte(t *testing.T) {
	spec := W1.Scaled(0.001)
	res, err := Run(spec, partd.NewDict(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.AppendBytes != spec.TotalBytes() || res.GetBytes != res.AppendBytes || res.GetIntoBytes != res.AppendBytes ||
		res.AppendMBps() <= 0 || res.GetMBps() <= 0 || res.GetIntoMBps() <= 0 {
		t.Fatalf("result %+v", res)
	}
	// A store that is no GetAppender: the get-into pass falls back to Get.
	res, err = Run(spec, &lossy{Store: partd.NewDict(), every: 0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetIntoBytes != res.AppendBytes || res.GetIntoMBps() <= 0 {
		t.Fatalf("result without GetAppender %+v", res)
	}
}

func TestRunGetAppendReusesBuffers(t *testing.T) {
	// 100 KiB per key: 40 keys a call, 3 calls.
	spec := Spec{ID: "T", Keys: 100, ValueSize: 1 << 10, Appends: 10_000, Batch: 100}
	s := &recording{Dict: partd.NewDict()}
	if _, err := Run(spec, s, 1); err != nil {
		t.Fatal(err)
	}
	if s.calls != 3 {
		t.Fatalf("%d GetAppend calls, want 3", s.calls)
	}
	if s.fresh > spec.GetBatch() {
		t.Errorf("GetAppend got %d buffers without room over %d calls: Run does not reuse them", s.fresh, s.calls)
	}
}

// recording counts GetAppend calls and the buffers passed without room
// for their key.
type recording struct {
	*partd.Dict
	calls, fresh int
}

func (r *recording) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	r.calls++
	for _, d := range dst {
		if len(d) != 0 {
			panic("buffer not truncated")
		}
		if cap(d) == 0 {
			r.fresh++
		}
	}
	return r.Dict.GetAppend(dst, keys...)
}

// lossy drops every other append if every is 2 (none if 0): Run must
// notice. It hides the store's GetAppend.
type lossy struct {
	partd.Store
	n, every int
}

func (l *lossy) Append(data map[string][]byte) error {
	if l.n++; l.every > 0 && l.n%l.every == 0 {
		return nil
	}
	return l.Store.Append(data)
}

func TestRunCatchesLoss(t *testing.T) {
	if _, err := Run(W1.Scaled(0.001), &lossy{Store: partd.NewDict(), every: 2}, 1); err == nil {
		t.Fatal("Run did not notice lost appends")
	}
}

// corrupt flips a byte of the last key a Get or (if getAppend) a GetAppend
// returns.
type corrupt struct {
	*partd.Dict
	getAppend bool
}

func (c *corrupt) Get(keys ...string) ([][]byte, error) {
	vals, err := c.Dict.Get(keys...)
	if err == nil && !c.getAppend {
		vals[len(vals)-1][0] ^= 1
	}
	return vals, err
}

func (c *corrupt) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	vals, err := c.Dict.GetAppend(dst, keys...)
	if err == nil && c.getAppend {
		vals[len(vals)-1][0] ^= 1
	}
	return vals, err
}

func TestRunCatchesCorruptBytes(t *testing.T) {
	for _, getAppend := range []bool{false, true} {
		_, err := Run(W1.Scaled(0.001), &corrupt{Dict: partd.NewDict(), getAppend: getAppend}, 1)
		if err == nil || !strings.Contains(err.Error(), "not those appended") {
			t.Errorf("corrupt bytes (in GetAppend: %v): err %v", getAppend, err)
		}
	}
}

func TestPythonStack(t *testing.T) {
	for stack, want := range map[string]string{"log": "file", "buffer-log": "buffer", "file": "file", "zstd": "zstd"} {
		if got := PythonStack(stack); got != want {
			t.Errorf("PythonStack(%q) = %q, want %q", stack, got, want)
		}
	}
}

func TestPythonBaselineRuns(t *testing.T) {
	spec := W1.Scaled(0.001)
	res, err := RunPython(spec, "file", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.AppendBytes != spec.TotalBytes() || res.AppendMBps() <= 0 {
		t.Fatalf("python result %+v", res)
	}
}
