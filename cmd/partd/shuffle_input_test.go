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

// TestExport: the Arrow keys a shuffle leaves in a store (--keep) are
// written to Parquet and CSV files that hold every row; a key of other
// bytes is skipped and said to be.
func TestExport(t *testing.T) {
	t.Parallel()
	in := filepath.Join(t.TempDir(), "in.csv")
	var b strings.Builder
	b.WriteString("id,key\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%d,%d\n", i, i%7)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	if out, errOut, code := cliRun(t, nil, "shuffle", "--input", in, "--by", "key", "--partitions", "3", "--output", filepath.Join(t.TempDir(), "o"),
		"--dir", store, "--keep", "--quiet"); code != 0 {
		t.Fatalf("shuffle: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cliRun(t, []byte("plain bytes"), "append", "--dir", store, "other"); code != 0 {
		t.Fatalf("append: %s", errOut)
	}
	for _, format := range []string{"parquet", "csv"} {
		dir := filepath.Join(t.TempDir(), format)
		out, errOut, code := cliRun(t, nil, "export", "--dir", store, "--output", dir, "--output-format", format)
		if code != 0 || !strings.Contains(out, "5,000 rows, 1 skipped") || !strings.Contains(out, "other: skipped") {
			t.Fatalf("export %s: exit %d\n%s%s", format, code, out, errOut)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "dfshuffle", "part-*", "*."+format))
		if len(files) < 3 {
			t.Fatalf("export %s wrote %q", format, files)
		}
		if format == "csv" {
			lines := 0
			for _, f := range files {
				b, _ := os.ReadFile(f)
				lines += strings.Count(string(b), "\n") - 1 // the header
			}
			if lines != 5000 {
				t.Fatalf("the CSV files hold %d rows, want 5000", lines)
			}
		}
	}
}
