package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// TestWaitReplicas checks WithWaitReplicas on a server with one replica:
// every kind of write returns once the replica has it, and while the
// replica hangs (SIGSTOP) every kind of write returns, after the wait
// timeout, an error wrapping ErrMaybeWritten and ErrUnavailable that
// says how many replicas acknowledged it.
func TestWaitReplicas(t *testing.T) {
	m := redistest.NewServer(t)
	r := redistest.NewReplica(t, m)
	// Two stores over one namespace: one waits long, so that a loaded
	// machine does not fail the writes that must pass, one briefly, for
	// those that must fail. A 64 KiB inline limit: the 100 KiB value is
	// staged, the 32 KiB one takes the fast path, the small ones the script.
	const wait = 300 * time.Millisecond
	prefix := newPrefix()
	patient, err := redisstore.New(client(t, m.Addr), prefix, redisstore.WithWaitReplicas(1, 3*time.Second), redisstore.WithInlineLimit(64<<10))
	must(t, err)
	defer patient.Close()
	s, err := redisstore.New(client(t, m.Addr), prefix, redisstore.WithWaitReplicas(1, wait), redisstore.WithInlineLimit(64<<10))
	must(t, err)
	defer s.Close()
	if n, d := s.WaitReplicas(); n != 1 || d != wait {
		t.Fatalf("WaitReplicas() = %d, %v; want 1, %v", n, d, wait)
	}
	// A store over the replica reads what the replica holds.
	onReplica, err := redisstore.New(client(t, r.Addr), s.Prefix())
	must(t, err)
	defer onReplica.Close()

	small, fast, staged := []byte("small;"), bytes.Repeat([]byte("f"), 32<<10), bytes.Repeat([]byte("s"), 100<<10)
	writes := []struct {
		name string
		call func(s *redisstore.Store) error
		key  string // the key the call writes, and what it then holds
		want []byte
	}{
		{"Append", func(s *redisstore.Store) error { return s.Append(map[string][]byte{"a/1": small, "b/1": small}) }, "a/1", small},
		{"AppendFast", func(s *redisstore.Store) error { return s.Append(map[string][]byte{"fast": fast}) }, "fast", fast},
		{"AppendStaged", func(s *redisstore.Store) error { return s.Append(map[string][]byte{"staged": staged}) }, "staged", staged},
		{"AppendVectors", func(s *redisstore.Store) error {
			return s.AppendVectors([]string{"vec"}, [][][]byte{{small, small}})
		}, "vec", append(bytes.Clone(small), small...)},
		{"Set", func(s *redisstore.Store) error { return s.Set("set", small) }, "set", small},
		{"Delete", func(s *redisstore.Store) error { return s.Delete("b/1") }, "b/1", nil},
	}
	for _, w := range writes {
		if err := w.call(patient); err != nil {
			t.Fatalf("%s with the replica up: %v", w.name, err)
		}
		// Acknowledged: the replica has it already.
		got, err := onReplica.Get(w.key)
		must(t, err)
		if !bytes.Equal(got[0], w.want) {
			t.Fatalf("%s returned, but the replica holds %d bytes of %s, want %d", w.name, len(got[0]), w.key, len(w.want))
		}
	}

	// With the replica hung, the same writes (each changing something:
	// the Delete deletes what Set wrote), and a Drop.
	must(t, r.Pause())
	paused := map[string]func() error{"Delete": func() error { return s.Delete("set") }, "Drop": s.Drop}
	for _, w := range writes {
		if paused[w.name] == nil {
			paused[w.name] = func() error { return w.call(s) }
		}
	}
	for _, name := range []string{"Append", "AppendFast", "AppendStaged", "AppendVectors", "Set", "Delete", "Drop"} {
		start := time.Now()
		err := paused[name]()
		d := time.Since(start)
		t.Logf("%s with the replica hung: %v after %v", name, err, d)
		if !errors.Is(err, redisstore.ErrMaybeWritten) || !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("%s with the replica hung: err = %v, want ErrMaybeWritten and ErrUnavailable", name, err)
		} else if !strings.Contains(err.Error(), "0 of 1 replicas") {
			t.Errorf("%s: %q does not say how many replicas acknowledged", name, err)
		}
		if d < wait || d > wait+2*time.Second {
			t.Errorf("%s returned after %v with a wait timeout of %v", name, d, wait)
		}
	}
	// Reads do not wait.
	if _, err := s.Get("a/1"); err != nil {
		t.Errorf("Get with the replica hung: %v", err)
	}
	must(t, r.Resume())
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := patient.Append(map[string][]byte{"a/1": small})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Append after the replica resumed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWaitReplicasRefused checks that New refuses what could never
// acknowledge a write: more replicas than a master has, a wait timeout
// the client's read timeout would cut, a negative count.
func TestWaitReplicasRefused(t *testing.T) {
	m := redistest.NewServer(t)
	redistest.NewReplica(t, m)
	c := redis.NewClient(&redis.Options{Addr: m.Addr, ReadTimeout: 2 * time.Second})
	defer c.Close()
	for _, opt := range []redisstore.Option{
		redisstore.WithWaitReplicas(2, 0),
		redisstore.WithWaitReplicas(-1, 0),
		redisstore.WithWaitReplicas(redisstore.MaxWaitReplicas+1, 0),
		redisstore.WithWaitReplicas(1, 2*time.Second), // as long as the client's read timeout
	} {
		if s, err := redisstore.New(c, newPrefix(), opt); err == nil {
			s.Close()
			t.Errorf("New accepted %v", opt)
		} else {
			t.Log(err)
		}
	}
	// On a server without replicas: refused.
	if s, err := redisstore.New(client(t, redisAddr), newPrefix(), redisstore.WithWaitReplicas(1, 0)); err == nil {
		s.Close()
		t.Errorf("New waits for a replica on a server with none")
	}
	// Dial makes its read timeout longer than the wait.
	s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: []string{m.Addr}}, newPrefix(),
		redisstore.WithTimeout(time.Second), redisstore.WithWaitReplicas(1, 2*time.Second))
	must(t, err)
	must(t, s.Append(map[string][]byte{"k": []byte("v")}))
	must(t, s.Close())
}

// failoverRecord is append seq of writer w: a header, then filler up to
// size bytes. Every tenth is 17 KiB, which takes Append's fast path; the
// others take the script.
func failoverRecord(w, seq int) []byte {
	size := 100
	if seq%10 == 0 {
		size = 17 << 10
	}
	b := fmt.Appendf(nil, "<%02d:%08d:%06d>", w, seq, size)
	return append(b, bytes.Repeat([]byte{byte('a' + w%26)}, size-len(b))...)
}

const failoverHeader = len("<00:00000000:000000>")

// parseFailoverRecords returns the sequence numbers of the records of
// writer w in v, in order.
func parseFailoverRecords(w int, v []byte) ([]int, error) {
	var seqs []int
	for off := 0; off < len(v); {
		if len(v)-off < failoverHeader {
			return seqs, fmt.Errorf("torn record at byte %d", off)
		}
		var gw, seq, size int
		if _, err := fmt.Sscanf(string(v[off:off+failoverHeader]), "<%02d:%08d:%06d>", &gw, &seq, &size); err != nil || gw != w {
			return seqs, fmt.Errorf("bad record header %q at byte %d", v[off:off+failoverHeader], off)
		}
		if off+size > len(v) || !bytes.Equal(v[off:off+size], failoverRecord(w, seq)) {
			return seqs, fmt.Errorf("torn record %d at byte %d", seq, off)
		}
		seqs = append(seqs, seq)
		off += size
	}
	return seqs, nil
}

// TestClusterFailoverWait is the failover of a lagging replica's master:
// writers append sequence-numbered records to keys of one master of a
// cluster (3 masters, a replica each) through a store that waits for one
// replica; the master's replica hangs (SIGSTOP) for 1.5 s, the master is
// killed (SIGKILL) while it does, and the replica resumes and is promoted
// by the cluster. Then every acknowledged append must be there, in order:
// no key may have a gap, an acknowledged append missing with later ones
// present. Appends that failed with ErrMaybeWritten may or may not be
// there; those that failed without it must not be.
//
// Without WithWaitReplicas, the appends acknowledged while the replica
// hung are lost: PARTD_FAILOVER_WAIT=0 runs the test so, and it fails.
func TestClusterFailoverWait(t *testing.T) {
	wait := 1
	if v := os.Getenv("PARTD_FAILOVER_WAIT"); v != "" {
		n, err := strconv.Atoi(v)
		must(t, err)
		wait = n
	}
	cl := redistest.NewCluster(t, 3, 1)
	opts := []redisstore.Option{redisstore.WithTimeout(500 * time.Millisecond)}
	if wait > 0 {
		opts = append(opts, redisstore.WithWaitReplicas(wait, 500*time.Millisecond))
	}
	s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: cl.Addrs(), IsClusterMode: true}, newPrefix(), opts...)
	must(t, err)
	defer s.Close()

	// Eight keys, of eight first parts, all on the master of "f0".
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer cc.Close()
	masterOf := func(k string) string {
		m, err := cc.MasterForKey(context.Background(), s.Prefix()+":d{"+strings.Split(k, "/")[0]+"}"+k)
		must(t, err)
		return m.Options().Addr
	}
	victimAddr := masterOf("f0/k")
	var keys []string
	for i := 0; len(keys) < 8; i++ {
		if k := fmt.Sprintf("f%d/k", i); masterOf(k) == victimAddr {
			keys = append(keys, k)
		}
	}
	victim := cl.Node(victimAddr)
	replicas, err := cl.ReplicasOf(victimAddr)
	must(t, err)
	if victim == nil || len(replicas) != 1 {
		t.Fatalf("master %s: node %v, replicas %v", victimAddr, victim, replicas)
	}
	replica := replicas[0]

	type history struct {
		acked, maybe, failed map[int]bool
		firstErr             *error
	}
	hist := make([]history, len(keys))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w, k := range keys {
		h := history{acked: map[int]bool{}, maybe: map[int]bool{}, failed: map[int]bool{}, firstErr: new(error)}
		hist[w] = h
		wg.Go(func() {
			for seq := 1; !stop.Load(); seq++ {
				err := s.Append(map[string][]byte{k: failoverRecord(w, seq)})
				switch {
				case err == nil:
					h.acked[seq] = true
				case errors.Is(err, redisstore.ErrMaybeWritten):
					h.maybe[seq] = true
				default:
					h.failed[seq] = true
				}
				if err != nil {
					if *h.firstErr == nil {
						*h.firstErr = fmt.Errorf("append %d: %w", seq, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	must(t, replica.Pause())
	time.Sleep(1500 * time.Millisecond)
	victim.Stop() // SIGKILL, with its replica still hung
	must(t, replica.Resume())
	start := time.Now()
	must(t, replica.WaitMaster(30*time.Second))
	must(t, cl.WaitHealthy(30*time.Second))
	t.Logf("%s killed; its replica %s took over within %v", victimAddr, replica.Addr, time.Since(start))
	time.Sleep(500 * time.Millisecond) // appends to the new master
	stop.Store(true)
	wg.Wait()

	var acked, maybe, failed, lost int
	for w, k := range keys {
		h := hist[w]
		acked, maybe, failed = acked+len(h.acked), maybe+len(h.maybe), failed+len(h.failed)
		t.Logf("%s: %d acknowledged, %d maybe written, %d failed; first error: %v", k, len(h.acked), len(h.maybe), len(h.failed), *h.firstErr)
		var v []byte
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.Get(k)
			if err == nil {
				v = got[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Get(%s) after the failover: %v", k, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		seqs, err := parseFailoverRecords(w, v)
		if err != nil {
			t.Errorf("%s: %v", k, err)
		}
		present := make(map[int]bool, len(seqs))
		for i, seq := range seqs {
			if i > 0 && seq <= seqs[i-1] {
				t.Errorf("%s: append %d after %d: out of order or twice", k, seq, seqs[i-1])
			}
			if h.failed[seq] || !h.acked[seq] && !h.maybe[seq] {
				t.Errorf("%s: append %d is there, but its Append failed with nothing written", k, seq)
			}
			present[seq] = true
		}
		var missing []int
		for seq := range h.acked {
			if !present[seq] {
				missing = append(missing, seq)
			}
		}
		if len(missing) > 0 {
			lost += len(missing)
			last := 0
			if len(seqs) > 0 {
				last = seqs[len(seqs)-1]
			}
			first := missing[0]
			for _, m := range missing {
				first = min(first, m)
			}
			t.Errorf("%s: %d acknowledged appends lost (the first %d); appends up to %d are there", k, len(missing), first, last)
		}
	}
	t.Logf("%d writers, WaitReplicas %d: %d appends acknowledged, %d maybe written, %d failed; %d acknowledged lost",
		len(keys), wait, acked, maybe, failed, lost)
	if acked == 0 {
		t.Errorf("no append was acknowledged")
	}
}

// BenchmarkWaitReplicas measures what WithWaitReplicas(1, …) costs on a
// cluster of 3 masters with a replica each: 8 goroutines append values of
// 1 KiB (the script path) or 64 KiB (the fast path) to 64 keys spread over
// the masters, through a store that waits and one that does not, in
// alternating rounds of the same run.
//
//	go test -run '^$' -bench WaitReplicas -benchtime 5x ./redisstore
//
// Reported, medians over the rounds: appends/s without and with the wait,
// and their ratio (with / without).
func BenchmarkWaitReplicas(b *testing.B) {
	cl := redistest.NewCluster(b, 3, 1)
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("value=%dKiB", size>>10), func(b *testing.B) {
			const writers, keys = 8, 64
			perWriter := max(100, (1<<20)/size) // 1 MiB or 100 appends a writer
			stores := make([]*redisstore.Store, 2)
			for i := range stores {
				var opts []redisstore.Option
				if i == 1 {
					opts = append(opts, redisstore.WithWaitReplicas(1, 0))
				}
				s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: cl.Addrs(), IsClusterMode: true}, newPrefix(), opts...)
				must(b, err)
				defer s.Close()
				stores[i] = s
			}
			value := bytes.Repeat([]byte("v"), size)
			round := func(s *redisstore.Store) float64 {
				start := time.Now()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						for n := range perWriter {
							k := fmt.Sprintf("k%d/x", (w*perWriter+n)%keys)
							if err := s.Append(map[string][]byte{k: value}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				rate := float64(writers*perWriter) / time.Since(start).Seconds()
				must(b, s.Drop())
				return rate
			}
			var without, with, ratio []float64
			for i := 0; i < b.N; i++ {
				var a, w float64
				if i%2 == 0 {
					a, w = round(stores[0]), round(stores[1])
				} else {
					w, a = round(stores[1]), round(stores[0])
				}
				without, with, ratio = append(without, a), append(with, w), append(ratio, w/a)
			}
			b.ReportMetric(median(without), "appends/s")
			b.ReportMetric(median(with), "wait1-appends/s")
			b.ReportMetric(median(ratio), "wait1-ratio")
			b.Logf("%d writers × %d appends of %d KiB: %.0f appends/s without wait, %.0f with wait=1 (ratio %.2f)",
				writers, perWriter, size>>10, median(without), median(with), median(ratio))
		})
	}
}
