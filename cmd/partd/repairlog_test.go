package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// TestRepairLog: a Log with a flipped byte in a record that valid records
// follow is refused by get (exit 1, "corrupt data", the segment named) and
// never printed wrong; repair --dry-run reports the damaged span and the keys
// it would drop, exits 1 and changes nothing; repair drops them; get then
// prints the keys the damage did not touch.
func TestRepairLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := l.Append(map[string][]byte{"hit": []byte(fmt.Sprintf("<%d>", i)), "other": []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(map[string][]byte{"safe": []byte("whole")}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "0000000000000000-00000000-0000.seg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte("<2>"))
	b[at+1] ^= 0x04 // "<2>" -> "<6>"
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	store := "log://" + dir

	out, errOut, code := cliRun(t, nil, "get", "--store", store, "hit")
	if code != 1 || !strings.Contains(errOut, "corrupt data") || !strings.Contains(errOut, "0000000000000000-00000000-0000.seg") || strings.Contains(out, "<6>") {
		t.Fatalf("get of a damaged log: exit %d, out %q, err %q", code, out, errOut)
	}
	out, errOut, code = cliRun(t, nil, "repair", "--store", store, "--dry-run")
	if code != 1 || !strings.Contains(out, "hit: would drop") || !strings.Contains(out, "other: would drop") || strings.Contains(out, "safe") {
		t.Fatalf("repair --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if after, _ := os.ReadFile(seg); !bytes.Equal(after, b) {
		t.Fatal("the dry run changed the segment")
	}
	out, errOut, code = cliRun(t, nil, "repair", "--store", store)
	if code != 0 || !strings.Contains(out, "2 keys dropped") {
		t.Fatalf("repair: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cliRun(t, nil, "keys", "--store", store)
	if code != 0 || out != "safe\n" {
		t.Fatalf("keys after repair: exit %d, %q %s", code, out, errOut)
	}
	out, _, code = cliRun(t, nil, "get", "--store", store, "safe")
	if code != 0 || out != "whole" {
		t.Fatalf("get safe after repair: exit %d, %q", code, out)
	}
}

// TestDirOpensWhatItHolds: --dir opens a directory as the store it holds,
// so the Log that partd serve --dir leaves is read back with --dir too.
func TestDirOpensWhatItHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := partd.OpenLog(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(map[string][]byte{"k": []byte("from a log")}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cliRun(t, nil, "get", "--dir", dir, "k")
	if code != 0 || out != "from a log" {
		t.Fatalf("get --dir of a Log: exit %d, %q %s", code, out, errOut)
	}
	if _, _, code := cliRun(t, []byte("+more"), "append", "--dir", dir, "k"); code != 0 {
		t.Fatalf("append --dir of a Log: exit %d", code)
	}
	if out, _, _ := cliRun(t, nil, "get", "--store", "log://"+dir, "k"); out != "from a log+more" {
		t.Fatalf("after append --dir: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".lock")); err == nil {
		t.Fatal("append --dir made a File store's .lock in a Log")
	}
}

// TestNoSilentEmptiness: a one-shot write to mem:// is refused with the
// reason (exit 2), since the store dies with the command; stat of a missing
// key exits 1 and names the store by its URI.
func TestNoSilentEmptiness(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"append", "--store", "mem://", "k"}, {"delete", "--store", "mem://", "k"}, {"drop", "--store", "mem://"}} {
		_, errOut, code := cliRun(t, []byte("hi"), args...)
		if code != 2 || !strings.Contains(errOut, "gone when the command exits") {
			t.Errorf("partd %q: exit %d, %q; want 2 and the reason", args, code, errOut)
		}
	}
	dir := t.TempDir()
	if _, errOut, code := cliRun(t, []byte("v"), "append", "--store", "log://"+dir, "here"); code != 0 {
		t.Fatalf("append: exit %d %s", code, errOut)
	}
	_, errOut, code := cliRun(t, nil, "stat", "--store", "log://"+dir, "here", "absent")
	if code != 1 || !strings.Contains(errOut, "no such key in log://"+dir+": absent") {
		t.Fatalf("stat of a missing key: exit %d, %q", code, errOut)
	}
}
