package main

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
)

// TestServeMaxDisk: a server with --max-disk refuses appends past the
// limit with an error that a client tells by errors.Is(err, partd.ErrFull),
// writes nothing of them, and goes on serving reads and deletes; the limit
// is refused for a store that cannot count its disk.
func TestServeMaxDisk(t *testing.T) {
	t.Parallel()
	c, err := client.Dial(startServe(t, "--store", "log://"+t.TempDir()+"?memory=64KiB", "--max-disk", "1MiB").addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	value := make([]byte, 50_000)
	rand.NewChaCha8([32]byte{3}).Read(value)
	acked := 0
	for ; ; acked++ {
		err := c.Append(map[string][]byte{"k": value})
		if err != nil {
			if !errors.Is(err, partd.ErrFull) {
				t.Fatalf("append %d: %v, want ErrFull", acked, err)
			}
			break
		}
		if acked > 40 {
			t.Fatal("1 MiB of appends of 50 kB never filled the store")
		}
	}
	vals, err := c.Get("k")
	if err != nil || len(vals[0]) != acked*len(value) {
		t.Fatalf("after %d acknowledged appends, Get: %d bytes, %v", acked, len(vals[0]), err)
	}
	if err := c.Delete("k"); err != nil {
		t.Fatalf("Delete of a full store: %v", err)
	}

	if _, errOut, code := cliRun(t, nil, "serve", "--addr", "tcp://127.0.0.1:*", "--store", "file://"+t.TempDir(), "--max-disk", "1MiB"); code != 2 || !strings.Contains(errOut, "--max-disk") {
		t.Errorf("--max-disk over a File store: exit %d, %q; want 2 and the flag named", code, errOut)
	}
}

// TestShuffleMaxDisk: a shuffle whose embedded store may not keep what it
// shuffles fails, saying the store is full.
func TestShuffleMaxDisk(t *testing.T) {
	t.Parallel()
	_, errOut, code := cliRun(t, nil, "shuffle", "--rows", "100000", "--workers", "2", "--memory", "0", "--max-disk", "1MiB", "--quiet")
	if code != 1 || !strings.Contains(errOut, "store full") {
		t.Fatalf("exit %d, want 1 and 'store full':\n%s", code, errOut)
	}
	if _, errOut, code := cliRun(t, nil, "shuffle", "--dir", t.TempDir(), "--max-disk", "1MiB"); code != 2 {
		t.Errorf("--max-disk with --dir: exit %d, want 2\n%s", code, errOut)
	}
}

// TestServeAttempts: through partd serve, a client appends under attempts
// of a task; nothing shows until a commit, the first commit wins, a later
// one is told ErrAttemptLost, a retried append applies once. A server over
// a File store, which cannot commit a batch whole, answers ErrUnsupported.
func TestServeAttempts(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"log://" + t.TempDir() + "?memory=1MiB", "file://" + t.TempDir()} {
		c, err := client.Dial(startServe(t, "--store", store).addr)
		if err != nil {
			t.Fatal(err)
		}
		err = c.AttemptAppend("map-7", 0, 1, map[string][]byte{"p/0": []byte("a")})
		if strings.HasPrefix(store, "file:") {
			if !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("attempts over a File store: %v, want ErrUnsupported", err)
			}
		} else {
			for _, step := range []error{
				err,
				c.AttemptAppend("map-7", 0, 1, map[string][]byte{"p/0": []byte("a")}), // a retry
				c.AttemptAppend("map-7", 0, 2, map[string][]byte{"p/0": []byte("b"), "p/1": []byte("c")}),
				c.AttemptAppend("map-7", 1, 1, map[string][]byte{"p/0": []byte("X")}),
			} {
				if step != nil {
					t.Fatal(step)
				}
			}
			if keys, err := c.Keys(); err != nil || len(keys) != 0 {
				t.Fatalf("keys before a commit: %q, %v", keys, err)
			}
			if err := c.AttemptCommit("map-7", 0); err != nil {
				t.Fatal(err)
			}
			if err := c.AttemptCommit("map-7", 1); !errors.Is(err, partd.ErrAttemptLost) {
				t.Fatalf("the second commit: %v, want ErrAttemptLost", err)
			}
			vals, err := c.Get("p/0", "p/1")
			if err != nil || string(vals[0]) != "ab" || string(vals[1]) != "c" {
				t.Fatalf("after the commit: %q, %v", vals, err)
			}
			if err := c.AttemptAbort("map-8", 0); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
}
