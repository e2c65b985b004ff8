package main

import (
	"strings"
	"testing"
)

// tableRows returns the table rows of bench output, without header and rule.
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| workload") || strings.HasPrefix(line, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

func TestBenchTable(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--scale", "0.01", "--workload", "W1", "--stack", "file", "--runs", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "`partd bench --scale 0.01 --workload W1 --stack file --runs 1`: ") || !strings.Contains(out, "cores") {
		t.Errorf("header does not give the command line and the machine:\n%s", out)
	}
	rows := tableRows(t, out)
	if len(rows) != 1 || len(rows[0]) != 7 || !strings.HasPrefix(rows[0][0], "W1 small-appends") || rows[0][1] != "file" ||
		rows[0][2] == "0.0" || rows[0][3] == "0.0" || rows[0][4] == "0.0" || rows[0][4] == "—" || rows[0][5] == "—" || rows[0][6] != "977 KiB" {
		t.Errorf("table rows %q\n%s", rows, out)
	}
	if !strings.Contains(out, "| get MB/s | get-into MB/s | peak RSS |") {
		t.Errorf("table has no get-into column:\n%s", out)
	}
}

// TestBenchLogStacks runs the default stacks of W1 and W5, which include the
// Log and a Buffer over it.
func TestBenchLogStacks(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--scale", "0.005", "--workload", "W1,W5", "--runs", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rows := tableRows(t, out)
	var stacks []string
	for _, r := range rows {
		stacks = append(stacks, r[0][:2]+" "+r[1])
		if len(r) != 7 || r[2] == "0.0" || r[3] == "0.0" || r[4] == "0.0" || r[4] == "—" {
			t.Errorf("row %q", r)
		}
		if r[1] != "dict" && (r[6] == "—" || r[6] == "0 B") {
			t.Errorf("%s on %s: nothing on disk: %q", r[0], r[1], r)
		}
	}
	if got, want := strings.Join(stacks, ","), "W1 dict,W1 file,W1 log,W5 buffer,W5 buffer-log"; got != want {
		t.Errorf("rows %s, want %s\n%s", got, want, out)
	}
}

func TestBenchPythonAndServer(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--scale", "0.002", "--workload", "W1,W4", "--runs", "1", "--python")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rows := tableRows(t, out)
	if len(rows) != 4 {
		t.Fatalf("want W1 on dict, file and log and W4 on server, got %q\n%s", rows, out)
	}
	for _, r := range rows {
		if len(r) != 13 || !strings.HasSuffix(r[10], "×") || !strings.HasSuffix(r[11], "×") || r[7] == "—" || r[9] == "—" {
			t.Errorf("row without Python figures: %q", r)
		}
		if r[1] != "server" && !strings.HasSuffix(r[12], "×") {
			t.Errorf("row without get-into ×py: %q", r)
		}
	}
	if log := rows[2]; log[1] != "log" || log[8] == "—" {
		t.Errorf("log row %q: not compared with Python's File", log)
	}
	if w4 := rows[3]; !strings.HasPrefix(w4[0], "W4") || w4[1] != "server" || w4[2] == "0.0" || w4[3] == "0.0" || w4[4] != "—" || w4[12] != "—" {
		t.Errorf("W4 row %q", w4)
	}
	if !strings.Contains(out, "log is compared with its File") {
		t.Errorf("no note on what log is compared with:\n%s", out)
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"bench", "--workload", "W9"},
		{"bench", "--stack", "lz4"},
		{"bench", "--runs", "0"},
		{"bench", "--scale", "0"},
		{"bench", "--workload", "W4", "--stack", "file"},
		{"bench", "--get-keys", "-1"},
	} {
		if _, errOut, code := cliRun(t, nil, args...); code != 2 {
			t.Errorf("partd %q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// TestBenchGetKeys: --get-keys 1,0 gives a row per value, one key per Get
// named in the first, Python's read-back the same.
func TestBenchGetKeys(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--scale", "0.005", "--workload", "W1", "--stack", "log", "--runs", "1", "--get-keys", "1,0", "--python")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rows := tableRows(t, out)
	if len(rows) != 2 || !strings.Contains(rows[0][0], "1 key per Get") || strings.Contains(rows[1][0], "per Get") {
		t.Fatalf("rows %q\n%s", rows, out)
	}
	for _, r := range rows {
		if len(r) != 13 || r[3] == "0.0" || !strings.HasSuffix(r[11], "×") {
			t.Errorf("row %q", r)
		}
	}
}
