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
	if len(rows) != 1 || len(rows[0]) != 6 || !strings.HasPrefix(rows[0][0], "W1 small-appends") || rows[0][1] != "file" ||
		rows[0][2] == "0.0" || rows[0][3] == "0.0" || rows[0][4] == "—" || rows[0][5] != "977 KiB" {
		t.Errorf("table rows %q\n%s", rows, out)
	}
}

func TestBenchPythonAndServer(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--scale", "0.002", "--workload", "W1,W4", "--runs", "1", "--python")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rows := tableRows(t, out)
	if len(rows) != 3 {
		t.Fatalf("want W1 on dict and file and W4 on server, got %q\n%s", rows, out)
	}
	for _, r := range rows {
		if len(r) != 11 || !strings.HasSuffix(r[9], "×") || !strings.HasSuffix(r[10], "×") || r[6] == "—" || r[8] == "—" {
			t.Errorf("row without Python figures: %q", r)
		}
	}
	if w4 := rows[2]; !strings.HasPrefix(w4[0], "W4") || w4[1] != "server" || w4[2] == "0.0" || w4[3] == "0.0" {
		t.Errorf("W4 row %q", w4)
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
	} {
		if _, errOut, code := cliRun(t, nil, args...); code != 2 {
			t.Errorf("partd %q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}
