package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorMessages runs the binary into the mistakes users make and
// checks the lines they read: one prefix per layer boundary (never
// "partd: partd:"), no library's internal name (klauspost's "s2:"), a
// hint where the store holds another codec, and usage errors that point
// at the subcommand's help.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seq := filepath.Join(dir, "seq.txt")
	var text []byte
	for i := 1; i <= 1000; i++ {
		text = fmt.Appendf(text, "%d\n", i)
	}
	if err := os.WriteFile(seq, text, 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	for _, args := range [][]string{
		{"append", "--dir", store, "--compress", "zstd", "z/logs", seq},
		{"append", "--dir", store, "--compress", "snappy", "z/snappy", seq},
	} {
		if _, errOut, code := cliRun(t, nil, args...); code != 0 {
			t.Fatalf("partd %q: exit %d\n%s", args, code, errOut)
		}
	}
	deadAddr := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // stderr
	}{
		{"wrong codec", []string{"get", "--dir", store, "--compress", "snappy", "z/logs"}, 1,
			`partd: snappy: key "z/logs": frame 0: corrupt data (the frame looks like zstd: the store may hold another codec?)` + "\n"},
		{"snappy read as zstd", []string{"get", "--dir", store, "--compress", "zstd", "z/snappy"}, 1,
			`partd: zstd: key "z/snappy": frame 0: corrupt data: invalid input: magic number mismatch (the store may hold another codec, or none?)` + "\n"},
		{"bad URI", []string{"get", "--store", "bogus://x", "k"}, 2,
			`partd: --store "bogus://x": bad store URI: unknown scheme "bogus" (want one of mem, file, log, tcp, ipc, redis, redis-cluster)` + "\n" +
				"Run 'partd get --help' for usage.\n"},
		{"bad compress in a URI", []string{"keys", "--store", "file://" + store + "?compress=foo"}, 2,
			`partd: --store "file://` + store + `?compress=foo": bad store URI: compress: setting "foo": unknown algorithm (want none, zstd, snappy or zlib)` + "\n" +
				"Run 'partd keys --help' for usage.\n"},
		{"missing key", []string{"get", "--dir", store, "nokey"}, 1, "partd: no such key: nokey\n"},
		{"dead server", []string{"get", "--addr", deadAddr, "--timeout", "2s", "k"}, 1,
			"partd/client: no partd server answered at " + deadAddr + " (nothing accepted a connection within 1s): no answer from server\n"},
		{"no key", []string{"get", "--dir", store}, 2, "partd: get needs at least one KEY\nRun 'partd get --help' for usage.\n"},
		{"unknown flag", []string{"append", "--bogus", "k"}, 2, "partd: unknown flag: --bogus\nRun 'partd append --help' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := cliRun(t, nil, tc.args...)
			if code != tc.code || errOut != tc.want {
				t.Errorf("partd %q: exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", tc.args, code, errOut, tc.code, tc.want)
			}
			for _, bad := range []string{"partd: partd", "s2:", "storeuri:", "connecting to"} {
				if strings.Contains(errOut, bad) {
					t.Errorf("stderr says %q: %s", bad, errOut)
				}
			}
		})
	}
	// An unknown command has no help of its own: the root's.
	if _, errOut, code := cliRun(t, nil, "frob"); code != 2 || !strings.HasSuffix(errOut, "Run 'partd --help' for usage.\n") {
		t.Errorf("partd frob: exit %d\n%s", code, errOut)
	}
}
