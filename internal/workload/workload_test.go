package workload

import (
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
	if res.AppendBytes != spec.TotalBytes() || res.GetBytes != res.AppendBytes || res.AppendMBps() <= 0 {
		t.Fatalf("result %+v", res)
	}
}

// lossy drops every other append: Run must notice.
type lossy struct {
	partd.Store
	n int
}

func (l *lossy) Append(data map[string][]byte) error {
	if l.n++; l.n%2 == 0 {
		return nil
	}
	return l.Store.Append(data)
}

func TestRunCatchesLoss(t *testing.T) {
	if _, err := Run(W1.Scaled(0.001), &lossy{Store: partd.NewDict()}, 1); err == nil {
		t.Fatal("Run did not notice lost appends")
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
