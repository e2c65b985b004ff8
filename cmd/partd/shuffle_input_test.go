package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShuffleInput runs partd shuffle --input as a user does, over CSV
// files with a Buffer small enough to spill: worker and reducer processes,
// the embedded server, part-NNNNN files, the run's own verification; and
// bad input fails with the file and column named and no output written.
func TestShuffleInput(t *testing.T) {
	t.Parallel()
	in := t.TempDir()
	const rows = 30_000
	for f := range 3 {
		var b strings.Builder
		b.WriteString("id,key,name,x\n")
		for i := range rows / 3 {
			id := f*rows/3 + i
			name := fmt.Sprintf("n%d", id%97)
			if id%11 == 0 {
				name = ""
			}
			fmt.Fprintf(&b, "%d,%d,%s,%d.5\n", id, id%1000, name, id)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("in-%d.csv", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "parts")
	stdout, errOut, code := cliRun(t, nil, "shuffle", "--input", filepath.Join(in, "*.csv"), "--by", "key",
		"--partitions", "6", "--output", out, "--workers", "2", "--reducers", "2", "--memory", "64KiB", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("shuffle --input: exit %d\n%s%s", code, stdout, errOut)
	}
	var sum inputSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if !sum.Verified || sum.Rows != rows || sum.Inputs != 3 || sum.Files != 6 {
		t.Fatalf("summary %+v", sum)
	}
	for p := range 6 {
		if fi, err := os.Stat(filepath.Join(out, fmt.Sprintf("part-%05d.parquet", p))); err != nil || fi.Size() == 0 {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	// Again into the same directory: refused without --overwrite.
	_, errOut, code = cliRun(t, nil, "shuffle", "--input", filepath.Join(in, "*.csv"), "--by", "key", "--output", out, "--quiet")
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("shuffle into a full --output: exit %d, %q", code, errOut)
	}
	// Bad input: no partition written anywhere.
	bad := filepath.Join(t.TempDir(), "bad")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "nope"}, `column "nope"`},
		{[]string{"--by", "key", "--input", filepath.Join(in, "missing.csv")}, "missing.csv"},
	} {
		args := append([]string{"shuffle", "--input", filepath.Join(in, "in-0.csv"), "--output", bad, "--quiet"}, c.args...)
		_, errOut, code := cliRun(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("partd %q: exit %d, %q; want 1 and %q", args, code, errOut, c.want)
		}
		if _, err := os.Stat(bad); err == nil {
			t.Errorf("partd %q wrote %s", args, bad)
		}
	}
	if _, errOut, code := cliRun(t, nil, "shuffle", "--by", "key"); code != 2 || !strings.Contains(errOut, "--by goes with --input") {
		t.Errorf("--by without --input: exit %d, %q", code, errOut)
	}
}
