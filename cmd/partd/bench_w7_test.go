package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchW7 runs W7 at a small scale beside Dask, as JSON and as a table:
// every stack verified the rows it was given and reported a time and a
// peak RSS.
func TestBenchW7(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--workload", "W7", "--scale", "0.002", "--runs", "1", "--python", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var runs []w7Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(runs) != len(w7Stacks)+1 {
		t.Fatalf("%d rows, want %d: %+v", len(runs), len(w7Stacks)+1, runs)
	}
	for _, r := range runs {
		if r.Rows != 20_000 || r.Seconds <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%+v: want 20,000 rows, a time and a peak RSS", r)
		}
	}
	if !strings.HasPrefix(runs[2].Stack, "Dask") {
		t.Errorf("last row %q, want Dask's", runs[2].Stack)
	}

	// The table, and W7 beside another workload: both run.
	out, errOut, code = cliRun(t, nil, "bench", "--workload", "W7,W1", "--stack", "dict", "--scale", "0.002", "--runs", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"W7 dataframe-shuffle: 20000 rows", "| partd shuffle --memory 64MiB |", "W1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
