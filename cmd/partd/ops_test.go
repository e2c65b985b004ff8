package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server"
)

// cliServer serves a Dict in this process on a free loopback port.
func cliServer(t *testing.T) string {
	t.Helper()
	srv, err := server.New(partd.NewDict(), "tcp://127.0.0.1:*", server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return srv.Addr()
}

// opsTarget runs the everyday commands against one store.
type opsTarget struct {
	t    *testing.T
	flag []string // --dir DIR or --addr ADDR
}

func (o opsTarget) run(stdin string, args ...string) string {
	o.t.Helper()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	all := append(append([]string{args[0]}, o.flag...), args[1:]...)
	out, errOut, code := cliRun(o.t, in, all...)
	if code != 0 {
		o.t.Fatalf("partd %q: exit %d\n%s", all, code, errOut)
	}
	return out
}

func TestOpsDirAndServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	targets := map[string]opsTarget{
		"dir":  {t, []string{"--dir", dir}},
		"addr": {t, []string{"--addr", cliServer(t)}},
		// A File store by URI, with a Buffer that spills every append.
		"store": {t, []string{"--store", "file://" + t.TempDir() + "?memory=16"}},
	}
	for name, o := range targets {
		t.Run(name, func(t *testing.T) {
			o.t = t
			file := filepath.Join(t.TempDir(), "in.bin")
			if err := os.WriteFile(file, []byte("from a file;"), 0o644); err != nil {
				t.Fatal(err)
			}
			o.run("", "append", "df/a", file)
			o.run("from stdin", "append", "df/a", "-")
			o.run("b!", "append", "other b")
			if got := o.run("", "get", "df/a"); got != "from a file;from stdin" {
				t.Errorf("get df/a = %q", got)
			}
			if got := o.run("", "get", "--allow-missing", "df/a", "missing", "other b"); got != "from a file;from stdinb!" {
				t.Errorf("get --allow-missing of three keys = %q", got)
			}
			if got := o.run("", "keys"); got != "df/a\nother b\n" {
				t.Errorf("keys = %q", got)
			}
			if got := o.run("", "keys", "df/"); got != "df/a\n" {
				t.Errorf("keys df/ = %q", got)
			}
			stat := o.run("", "stat", "df/a", "other b")
			if !strings.Contains(stat, "22  df/a") || !strings.Contains(stat, "2  other b") || !strings.Contains(stat, "24  total (2 keys)") {
				t.Errorf("stat:\n%s", stat)
			}
			if name != "addr" {
				if all := o.run("", "stat"); !strings.Contains(all, "24  total (2 keys)") {
					t.Errorf("stat of the directory:\n%s", all)
				}
			} else if all := o.run("", "stat"); !strings.Contains(all, "keys") || !strings.Contains(all, "store") {
				t.Errorf("stat of the server:\n%s", all)
			}

			// A compressed key, then a torn tail cut off by repair.
			o.run("compress me compress me compress me", "append", "--compress", "zstd", "z")
			o.run("second", "append", "--compress", "zstd", "z")
			if got := o.run("", "get", "--compress", "zstd", "z"); got != "compress me compress me compress mesecond" {
				t.Errorf("get --compress zstd z = %q", got)
			}
			o.run("\x10\x00\x00\x00\x00\x00\x00\x00torn", "append", "z") // a frame that claims 16 bytes and has 4
			if _, errOut, code := cliRun(t, nil, append([]string{"get", "--compress", "zstd", "z"}, o.flag...)...); code != 1 || !strings.Contains(errOut, "corrupt") {
				t.Errorf("get of a torn key: exit %d, %s", code, errOut)
			}
			rep, errOut, code := cliRun(t, nil, append([]string{"repair", "--dry-run", "z"}, o.flag...)...)
			if code != 1 || !strings.Contains(rep, "z: torn tail") || !strings.Contains(rep, "would drop 12") {
				t.Errorf("repair --dry-run of a torn key: exit %d, want 1\n%s%s", code, rep, errOut)
			}
			rep = o.run("", "repair", "--all")
			if !strings.Contains(rep, "z: torn tail") || !strings.Contains(rep, "dropped 12") ||
				!strings.Contains(rep, "df/a: skipped") || !strings.Contains(rep, "1 with a torn tail") {
				t.Errorf("repair --all:\n%s", rep)
			}
			if got := o.run("", "get", "--compress", "zstd", "z"); got != "compress me compress me compress mesecond" {
				t.Errorf("get after repair = %q", got)
			}
			if rep := o.run("", "repair", "z"); !strings.Contains(rep, "z: intact") {
				t.Errorf("repair of a repaired key:\n%s", rep)
			}
			if rep := o.run("", "repair", "--dry-run", "z"); !strings.Contains(rep, "z: intact") { // exit 0
				t.Errorf("repair --dry-run of an intact key:\n%s", rep)
			}

			o.run("", "delete", "df/a", "never-there")
			if got := o.run("", "keys"); got != "other b\nz\n" {
				t.Errorf("keys after delete = %q", got)
			}
			o.run("", "drop")
			if got := o.run("", "keys"); got != "" {
				t.Errorf("keys after drop = %q", got)
			}
		})
	}
	// The directory is a File store that Python partd could read: plain key
	// parts are file names.
	if _, err := os.Stat(filepath.Join(dir, ".lock")); err != nil {
		t.Error(err)
	}
}

func TestOpsExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	usage := [][]string{
		{"get", "k"}, // no store
		{"get", "--dir", dir, "--addr", "tcp://x:1", "k"}, // two stores
		{"get", "--dir", dir},                             // no key
		{"append", "--dir", dir},                          // no key
		{"append", "--dir", dir, "k", "f", "extra"},       // too many
		{"get", "--dir", dir, "a/../b"},                   // invalid key
		{"delete", "--dir", dir, ""},                      // invalid key
		{"keys", "--dir", dir, "a", "b"},                  // too many
		{"drop", "--dir", dir, "x"},                       // no arguments
		{"repair", "--dir", dir},                          // neither keys nor --all
		{"repair", "--dir", dir, "--all", "k"},            // both
		{"get", "--dir", dir, "--compress", "lzma", "k"},
		{"get", "--dir", dir, "--nope", "k"},
		{"get", "--store", "s3://bucket", "k"},                                // unknown scheme
		{"get", "--store", "file://relative", "k"},                            // not absolute
		{"get", "--store", "mem://", "--dir", dir, "k"},                       // two stores
		{"get", "--store", "mem://?compress=zstd", "--compress", "zstd", "k"}, // two compression layers
		{"get", "--addr", "127.0.0.1:5555", "k"},                              // not an address
		{"frobnicate"},
	}
	for _, args := range usage {
		if _, errOut, code := cliRun(t, nil, args...); code != 2 {
			t.Errorf("partd %q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
	failures := [][]string{
		{"append", "--dir", dir, "k", filepath.Join(dir, "no-such-file")},
		{"get", "--dir", notDir, "k"},
		{"stat", "--dir", filepath.Join(dir, "missing")},
		{"get", "--store", "file://" + filepath.Join(dir, "missing"), "k"},
		{"keys", "--addr", "tcp://127.0.0.1:1", "--timeout", "300ms"},
	}
	for _, args := range failures {
		// One prefix: partd's, or the package's that failed (partd/client).
		if _, errOut, code := cliRun(t, nil, args...); code != 1 || !strings.HasPrefix(errOut, "partd: ") && !strings.HasPrefix(errOut, "partd/client: ") {
			t.Errorf("partd %q: exit %d, want 1 with a message\n%s", args, code, errOut)
		}
	}
	// Every command has help with an example.
	for _, c := range []string{"shuffle", "bench", "append", "get", "keys", "delete", "drop", "stat", "repair"} {
		out, errOut, code := cliRun(t, nil, c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("partd %s --help: exit %d, no example\n%s%s", c, code, out, errOut)
		}
	}
}

// A directory of user files is never adopted, listed or dropped, and the
// commands that only read or remove create nothing where no store is.
func TestOpsNeverAdoptOrCreate(t *testing.T) {
	t.Parallel()
	user := t.TempDir()
	os.WriteFile(filepath.Join(user, "notes.txt"), []byte("hi"), 0o644)
	os.MkdirAll(filepath.Join(user, "photos"), 0o755)
	os.WriteFile(filepath.Join(user, "photos", "img_001.jpg"), []byte("J"), 0o644)
	for _, args := range [][]string{{"append", "--dir", user, "part-1"}, {"keys", "--dir", user}, {"drop", "--dir", user}, {"get", "--dir", user, "notes.txt"}} {
		_, errOut, code := cliRun(t, []byte("x"), args...)
		if code != 1 || !strings.Contains(errOut, "not a store directory") {
			t.Fatalf("partd %q on a directory of user files: exit %d, stderr %q; want 1 and ErrNotStore", args, code, errOut)
		}
	}
	for _, name := range []string{"notes.txt", "photos/img_001.jpg"} {
		if _, err := os.Stat(filepath.Join(user, name)); err != nil {
			t.Fatalf("user file %s: %v", name, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "nonexistent")
	for _, args := range [][]string{{"get", "k"}, {"keys"}, {"stat"}, {"stat", "k"}, {"repair", "--all"}, {"delete", "k"}, {"drop"}} {
		all := append([]string{args[0], "--dir", missing}, args[1:]...)
		_, errOut, code := cliRun(t, nil, all...)
		if code != 1 || !strings.Contains(errOut, "no such store") {
			t.Fatalf("partd %q: exit %d, stderr %q; want exit 1 and \"no such store\"", all, code, errOut)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("partd %q created %s", all, missing)
		}
	}
	_, errOut, code := cliRun(t, nil, "get", "--dir", "file:///x", "k")
	if code != 2 || !strings.Contains(errOut, "not a URI") {
		t.Fatalf("partd get --dir file:///x: exit %d, stderr %q; want a usage error", code, errOut)
	}
	if _, err := os.Stat("file:"); err == nil {
		t.Fatal("--dir file:///x created ./file:")
	}
}
