package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/redisstore/redistest"
)

// cliRunFor is cliRun with a deadline: a command still running after d is
// killed and reported with code -1.
func cliRunFor(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, partdBinary(t), args...)
	cmd.Env = cliEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("partd %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestServeHelpSaysWhatSurvives: serve --help says what an acknowledged
// append survives in each mode, and what --max-message bounds.
func TestServeHelpSaysWhatSurvives(t *testing.T) {
	out, errOut, code := cliRun(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d\n%s", code, errOut)
	}
	out = strings.Join(strings.Fields(out), " ") // the words, whatever the layout
	for _, want := range []string{
		"--memory SIZE (default 1GiB) the append is in the server's memory until the Buffer spills it",
		"a crash of the server (kill -9, out of memory, power loss) loses every append not yet spilled",
		"--memory 0 written to the files in --dir before the answer: survives a crash or kill -9 of the server, not a crash of the machine",
		"--memory 0 --sync fsynced before the answer: survives a crash of the machine or a power loss too",
		"log:///DIR?sync=1", "file:///DIR?sync=1",
		"checks --max-message against each frame only", "a message is held whole while it arrives",
		"--sync with --memory 0: fsync", "--max-message string",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

// TestSizesAndLimits: sizes on the command line and in URIs are parsed
// without overflow, NaN or Inf; limits the server cannot meet are usage
// errors (exit 2); a URI is checked whole before any store is opened; and
// serve logs the buffer it has, not the --memory default.
func TestSizesAndLimits(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"serve", "--max-message", "4000000TiB"}, // once accepted: the server then read no request
		{"serve", "--max-message", "2TiB"},
		{"serve", "--max-message", "8EiB"},
		{"serve", "--max-message", "1e30GiB"},
		{"serve", "--max-message", "512"},
		{"serve", "--max-message", "NaN"},
		{"serve", "--memory", "NaN"}, // once "no buffer"
		{"serve", "--memory", "Inf"},
		{"serve", "--memory", "-1"},
		{"serve", "--memory", "16777216TiB"},
		{"serve", "--store", "mem://?memory=NaN"},
		{"serve", "--store", "log://" + missing + "?memory=1e3"},
		{"serve", "--dir", missing, "--sync"}, // a buffer would hold appends unsynced
		{"serve", "--store", "mem://", "--sync"},
		{"serve", "--store", "mem://?sync=1"},
		{"shuffle", "--memory", "NaN"},
		{"keys", "--store", "log://" + missing + "?memory=NaN"},
		{"keys", "--store", "log://" + missing + "?memory=-1"},
		{"get", "--store", "file://" + missing + "?memory=Inf", "k"},
		{"stat", "--store", "log://" + missing + "?sync=maybe"},
	} {
		_, errOut, code := cliRunFor(t, 20*time.Second, args...)
		if code != 2 {
			t.Errorf("partd %q: exit %d, want 2 (usage)\n%s", args, code, errOut)
		}
		if strings.Contains(errOut, "no such") {
			t.Errorf("partd %q looked for the store before checking its URI:\n%s", args, errOut)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused command created %s: %v", missing, err)
	}

	// The limit at the top of the range still serves.
	p := startServe(t, "--store", "mem://?memory=1MiB", "--max-message", "1TiB")
	c, err := client.Dial(p.addr, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Append(map[string][]byte{"k": []byte("v")}); err != nil {
		t.Fatalf("append to a server with --max-message 1TiB: %v", err)
	}
	p.stop(t)
	if log := p.stderr.String(); !strings.Contains(log, "memory=1MiB") || strings.Contains(log, "1073741824") {
		t.Errorf("serve --store mem://?memory=1MiB logs another buffer:\n%s", log)
	}
}

// TestSecretsRedacted: a password in a store URI shows in no error, log
// line or summary, as text or JSON: parse errors, serve's "serving" line
// (over a Redis Cluster that requires it), shuffle's summaries.
func TestSecretsRedacted(t *testing.T) {
	const pw = "s3cretPW"
	check := func(what, text string) {
		t.Helper()
		if strings.Contains(text, pw) {
			t.Errorf("%s shows the password:\n%s", what, text)
		}
	}
	for _, args := range [][]string{
		{"keys", "--store", "redis://:" + pw + "@127.0.0.1:1?bogus=1"},
		{"keys", "--store", "redis://:" + pw + "@127.0.0.1:1?memory=-1"},
		{"keys", "--store", "redis://:" + pw + "@127.0.0.1:1?memory=NaN", "--json"},
		{"keys", "--store", "redis:/:" + pw + "@127.0.0.1:1"},
		{"keys", "--store", "rediss://u:" + pw + "@127.0.0.1:1"},
		{"keys", "--store", "redis://:a?" + pw + "@127.0.0.1:1"},
		{"keys", "--store", "redis://:%zz" + pw + "@127.0.0.1:1"},
		{"get", "--addr", "redis://:" + pw + "@127.0.0.1:1", "k"},
		{"serve", "--store", "redis-cluster://:" + pw + "@127.0.0.1:1,127.0.0.1?prefix=x"},
		{"shuffle", "--store", "redis://:" + pw + "@127.0.0.1:1?prefix=a%20b", "--json"},
		{"shuffle", "--addr", "redis://:" + pw + "@127.0.0.1:1"},
	} {
		out, errOut, code := cliRunFor(t, 20*time.Second, args...)
		if code != 2 {
			t.Errorf("partd %q: exit %d, want 2\n%s", args, code, errOut)
		}
		check(strings.Join(args, " "), out+errOut)
	}
	cl := redistest.NewCluster(t, 3, 0)
	for _, n := range cl.Nodes {
		if err := n.Client().ConfigSet(context.Background(), "requirepass", pw).Err(); err != nil {
			t.Fatal(err)
		}
	}
	uri := "redis-cluster://:" + pw + "@" + strings.Join(cl.Addrs(), ",") + "?prefix=secret"
	p := startServe(t, "--store", uri)
	c, err := client.Dial(p.addr, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(map[string][]byte{"k": []byte("v")}); err != nil {
		t.Fatalf("append through serve to the cluster: %v\n%s", err, p.stderr.String())
	}
	c.Close()
	p.stop(t)
	if log := p.stderr.String(); !strings.Contains(log, "redis-cluster://:xxxxx@") {
		t.Errorf("serve's log does not name the store, redacted:\n%s", log)
	}
	check("serve's log", p.stderr.String())

	single := redistest.NewServer(t)
	if err := single.Client().ConfigSet(context.Background(), "requirepass", pw).Err(); err != nil {
		t.Fatal(err)
	}
	uri = "redis://:" + pw + "@" + single.Addr + "?prefix=secret"
	s, errOut, code := runShuffleJSON(t, "--rows", "2000", "--workers", "2", "--partitions", "4", "--store", uri)
	if code != 0 || !s.Verified || !strings.Contains(s.Store, "redis://:xxxxx@") {
		t.Fatalf("shuffle over a Redis with a password: exit %d, %+v\n%s", code, s, errOut)
	}
	raw, _ := json.Marshal(s)
	check("shuffle --json", string(raw)+errOut)
	out, errOut, code := cliRun(t, nil, "shuffle", "--rows", "2000", "--workers", "2", "--partitions", "4", "--store", uri)
	if code != 0 {
		t.Fatalf("shuffle: exit %d\n%s", code, errOut)
	}
	check("shuffle's summary", out+errOut)
}
