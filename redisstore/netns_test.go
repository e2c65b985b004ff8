//go:build linux

package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func init() {
	helpers["netns-writer"] = netnsWriter
	helpers["netns-reader"] = netnsReader
}

// The workload of TestAcrossHosts: each writer appends, per round, a value
// of records to its own key and to a shared one. Even rounds carry big
// values (over the fast path's 16 KiB), odd rounds a few records (the
// script path).
const (
	netnsWriters = 4
	netnsRounds  = 60
	netnsBig     = 2000 // records in a value of an even round
	netnsSmall   = 3    // records in a value of an odd round
	netnsPrefix  = "netns"
	netnsShared  = "hosts/shared"
)

// netnsRound returns the first record number of round r and the records it
// holds.
func netnsRound(r int) (first, n int) {
	first = (r+1)/2*netnsBig + r/2*netnsSmall
	if r%2 == 0 {
		return first, netnsBig
	}
	return first, netnsSmall
}

func netnsPrivate(w int) string { return fmt.Sprintf("hosts/w%d", w) }

// TestAcrossHosts runs writers and a reader on one "host" against Redis on
// another: two network namespaces that the test creates, joined by a veth
// pair with private addresses it picks. Redis listens in namespace A on its
// end of the pair only; this test binary, re-executed in namespace B, appends
// through the store from 4 processes at once, then reads every key back
// there and checks that it holds each writer's records in order, every
// record once, each append whole. It needs root (and iproute2's ip), which
// CI has: without them it fails, it is never skipped.
func TestAcrossHosts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("TestAcrossHosts must run as root: it creates network namespaces and a veth pair (euid %d)", os.Geteuid())
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("TestAcrossHosts needs ip from iproute2 (Debian's iproute2 package): %v", err)
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(redistest.ErrNotInstalled)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal(redistest.ErrNotInstalled)
	}
	self, err := os.Executable()
	must(t, err)

	// Names and addresses of this run only: the namespaces and the veth
	// pair exist nowhere else, and the addresses (a /30 of 10.231.0.0/16)
	// only inside the two namespaces.
	id := fmt.Sprintf("%d-%04x", os.Getpid(), rand.Uint32()&0xffff)
	nsA, nsB := "partdtest-"+id+"-a", "partdtest-"+id+"-b"
	vethA, vethB := "pdt"+id[len(id)-4:]+"a", "pdt"+id[len(id)-4:]+"b"
	subnet := rand.IntN(256)
	addrA := fmt.Sprintf("10.231.%d.1", subnet)
	addrB := fmt.Sprintf("10.231.%d.2", subnet)
	const port = "6379"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)

	run := func(args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsA, nsB} {
		run("netns", "add", ns)
		t.Cleanup(func() { // deleting A also deletes the veth pair
			if out, err := exec.Command(ip, "netns", "delete", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns delete %s: %v\n%s", ns, err, out)
			}
		})
	}
	run("link", "add", vethA, "netns", nsA, "type", "veth", "peer", "name", vethB, "netns", nsB)
	run("-n", nsA, "addr", "add", addrA+"/30", "dev", vethA)
	run("-n", nsB, "addr", "add", addrB+"/30", "dev", vethB)
	for _, l := range [][2]string{{nsA, vethA}, {nsB, vethB}, {nsA, "lo"}, {nsB, "lo"}} {
		run("-n", l[0], "link", "set", l[1], "up")
	}

	// Redis in A, on A's end of the pair only.
	dir := t.TempDir()
	log := filepath.Join(dir, "redis.log")
	srv := exec.Command(ip, "netns", "exec", nsA, server, "--bind", addrA, "--port", port,
		"--protected-mode", "no", "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", log)
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // ip execs redis-server: it is this process
	must(t, srv.Start())
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	})
	addr := net.JoinHostPort(addrA, port)
	// From B: Redis answers across the pair.
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err := exec.CommandContext(ctx, ip, "netns", "exec", nsB, cli, "-h", addrA, "-p", port, "ping").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "PONG" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("redis-server in %s does not answer on %s from %s: %v %s\n%s", nsA, addr, nsB, err, out, b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// inB runs this test binary in namespace B as the helper name, with the
	// Redis address, the prefix and args.
	inB := func(name string, args ...string) *exec.Cmd {
		h := partdtest.StartHelper(name, append([]string{addr, netnsPrefix}, args...)...)
		cmd := exec.CommandContext(ctx, ip, append([]string{"netns", "exec", nsB, self}, h.Args[1:]...)...)
		cmd.Env = h.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	writers := make([]*exec.Cmd, netnsWriters)
	outs := make([]*bytes.Buffer, netnsWriters)
	for w := range writers {
		writers[w] = inB("netns-writer", strconv.Itoa(w))
		outs[w] = new(bytes.Buffer)
		writers[w].Stdout, writers[w].Stderr = outs[w], outs[w]
		must(t, writers[w].Start())
		t.Cleanup(func() {
			if writers[w].ProcessState == nil {
				_ = writers[w].Process.Kill()
				_ = writers[w].Wait()
			}
		})
	}
	for w, cmd := range writers {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d in %s: %v\n%s", w, nsB, err, outs[w])
		}
	}
	out, err := inB("netns-reader", addrB).CombinedOutput()
	if err != nil {
		t.Fatalf("reader in %s: %v\n%s", nsB, err, out)
	}
	t.Logf("Redis in %s at %s; %d writers and a reader in %s at %s: %s", nsA, addr, netnsWriters, nsB, addrB, bytes.TrimSpace(out))
}

// netnsWriter appends one writer's rounds, each one Append of its value to
// its own key and to the shared one; args are the Redis address, the
// prefix and the writer's number.
func netnsWriter(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("netns-writer: arguments %q, want address, prefix and writer", args)
	}
	w, err := strconv.Atoi(args[2])
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	s, err := dialArgs(args[0], args[1])
	if err != nil {
		return err
	}
	defer s.Close()
	for r := range netnsRounds {
		first, n := netnsRound(r)
		v := make([]byte, 0, n*partdtest.RecordLen)
		for i := range n {
			v = append(v, partdtest.Record(w, first+i)...)
		}
		if err := s.Append(map[string][]byte{netnsPrivate(w): v, netnsShared: v}); err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
	}
	return nil
}

// netnsReader reads every key back and checks it; it prints what it read
// and the address Redis saw it connect from, which must be the peer address
// it is given. args are the Redis address, the prefix and that peer.
func netnsReader(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("netns-reader: arguments %q, want address, prefix and peer", args)
	}
	c := redis.NewClient(&redis.Options{Addr: args[0], ContextTimeoutEnabled: true, PoolSize: 1})
	defer c.Close()
	s, err := redisstore.New(c, args[1])
	if err != nil {
		return err
	}
	defer s.Close()
	keys, err := s.Keys()
	if err != nil {
		return err
	}
	want := []string{netnsShared}
	for w := range netnsWriters {
		want = append(want, netnsPrivate(w))
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		return fmt.Errorf("Keys = %q, want %q", keys, want)
	}
	vals, err := s.Get(keys...)
	if err != nil {
		return err
	}
	total := 0
	for i, k := range keys {
		recs, err := partdtest.Records(vals[i])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if err := checkNetnsRecords(k, recs); err != nil {
			return err
		}
		total += len(recs)
	}
	// The connection the store used, as Redis saw it.
	info, err := c.ClientInfo(context.Background()).Result()
	if err != nil {
		return err
	}
	peer := args[2]
	if host, _, _ := net.SplitHostPort(info.Addr); host != peer {
		return fmt.Errorf("Redis saw the reader connect from %s, want %s", info.Addr, peer)
	}
	fmt.Printf("%d keys, %d records, %d bytes checked; Redis saw the reader at %s\n", len(keys), total, total*partdtest.RecordLen, info.Addr)
	return nil
}

// checkNetnsRecords checks the records of key: on a writer's own key its
// records in order, each once; on the shared key every writer's, each
// writer's in order and each once, every round's records together (an
// Append is whole).
func checkNetnsRecords(key string, recs [][2]int) error {
	writers := []int{}
	if key == netnsShared {
		for w := range netnsWriters {
			writers = append(writers, w)
		}
	} else {
		w, err := strconv.Atoi(strings.TrimPrefix(key, "hosts/w"))
		if err != nil {
			return fmt.Errorf("unexpected key %q", key)
		}
		writers = append(writers, w)
	}
	last, _ := netnsRound(netnsRounds)
	next := make(map[int]int) // each writer's next record
	round := make(map[int]int)
	for i := 0; i < len(recs); {
		w, n := recs[i][0], recs[i][1]
		if !slices.Contains(writers, w) {
			return fmt.Errorf("%s: record %d of writer %d, who does not write it", key, n, w)
		}
		first, count := netnsRound(round[w])
		if round[w] >= netnsRounds || n != next[w] || n != first {
			return fmt.Errorf("%s: writer %d's record %d where %d was due: lost, repeated or reordered", key, w, n, next[w])
		}
		if i+count > len(recs) {
			return errors.New(key + ": an append cut short")
		}
		for j := range count { // the round's records together
			if recs[i+j] != [2]int{w, first + j} {
				return fmt.Errorf("%s: record %v inside writer %d's append of records %d…%d", key, recs[i+j], w, first, first+count-1)
			}
		}
		i += count
		next[w] = first + count
		round[w]++
	}
	for _, w := range writers {
		if next[w] != last {
			return fmt.Errorf("%s: writer %d's records end at %d, want %d", key, w, next[w], last)
		}
	}
	return nil
}
