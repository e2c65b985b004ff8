package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/encode"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client returns a client of addrs (a cluster client for several) that
// honors context deadlines, closed when the test ends.
func client(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if len(addrs) > 1 {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	} else {
		c = redis.NewClient(&redis.Options{Addr: addrs[0], ContextTimeoutEnabled: true})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// opener returns the open function of partdtest.Run: a new namespace of c
// for each store.
func opener(c redis.UniversalClient, opts ...redisstore.Option) func(t *testing.T) partd.Store {
	return func(t *testing.T) partd.Store {
		s, err := redisstore.New(c, newPrefix(), opts...)
		must(t, err)
		return s
	}
}

// reopener returns the open function of partdtest.RunReopen: the namespace
// is named after the directory, so each open of it sees the same keys.
func reopener(c redis.UniversalClient, opts ...redisstore.Option) func(t *testing.T, dir string) partd.Store {
	return func(t *testing.T, dir string) partd.Store {
		h := fnv.New64a()
		h.Write([]byte(dir))
		s, err := redisstore.New(c, fmt.Sprintf("reopen-%x", h.Sum64()), opts...)
		must(t, err)
		return s
	}
}

func TestConformance(t *testing.T) {
	partdtest.Run(t, opener(client(t, redisAddr)))
}

func TestReopen(t *testing.T) {
	partdtest.RunReopen(t, reopener(client(t, redisAddr)))
}

// TestConformanceSmallLimits runs the suite on a server whose strings and
// arguments are at most 1 MiB: the suite's 3 MiB value is held in parts,
// sent in pieces, and partly staged.
func TestConformanceSmallLimits(t *testing.T) {
	srv := redistest.NewServer(t, "--proto-max-bulk-len", "1mb", "--client-query-buffer-limit", "1mb")
	c := client(t, srv.Addr)
	s, err := redisstore.New(c, "probe")
	must(t, err)
	if got := s.PartSize(); got != 1<<20 {
		t.Errorf("PartSize = %d, want the server's proto-max-bulk-len, 1 MiB", got)
	}
	partdtest.Run(t, opener(c))
	partdtest.RunReopen(t, reopener(c))
}

// TestConformanceTinyParts runs the suite with 1 KiB parts and 4 KiB of
// values per script call, so that most values are in many parts and most
// batches are staged, readers racing writers included.
func TestConformanceTinyParts(t *testing.T) {
	c := client(t, redisAddr)
	opts := []redisstore.Option{redisstore.WithPartSize(1024), redisstore.WithInlineLimit(4096)}
	partdtest.Run(t, opener(c, opts...))
	partdtest.RunReopen(t, reopener(c, opts...))
	s, err := redisstore.New(c, newPrefix(), opts...)
	must(t, err)
	h := partdtest.Bytes(s)
	// Records of 600 bytes, so that a part holds one or two of them.
	const copies = 50
	h.Record = func(w, n int) []byte { return bytes.Repeat(partdtest.Record(w, n), copies) }
	h.Records = func(v []byte) ([][2]int, error) {
		const size = copies * partdtest.RecordLen
		if len(v)%size != 0 {
			return nil, fmt.Errorf("torn record: %d bytes", len(v))
		}
		var out [][2]int
		for off := 0; off < len(v); off += size {
			rec := v[off : off+size]
			if !bytes.Equal(rec, bytes.Repeat(rec[:partdtest.RecordLen], copies)) {
				return nil, fmt.Errorf("torn record at byte %d", off)
			}
			r, err := partdtest.Records(rec[:partdtest.RecordLen])
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	}
	h.Run(t, 4, 40)
	checkClean(t, c, s)
}

// TestCluster runs the suite against a 3-master cluster with a replica
// each, whose nodes take strings of at most 1 MiB.
func TestCluster(t *testing.T) {
	cl := redistest.NewCluster(t, 3, 1, "--proto-max-bulk-len", "1mb")
	c := client(t, cl.Addrs()...)
	t.Run("Conformance", func(t *testing.T) { partdtest.Run(t, opener(c)) })
	t.Run("Reopen", func(t *testing.T) { partdtest.RunReopen(t, reopener(c)) })
	t.Run("TinyParts", func(t *testing.T) {
		partdtest.Run(t, opener(c, redisstore.WithPartSize(1024), redisstore.WithInlineLimit(4096)))
	})
	t.Run("Wait", func(t *testing.T) {
		partdtest.Run(t, opener(c, redisstore.WithWaitReplicas(1, 0), redisstore.WithPartSize(1024), redisstore.WithInlineLimit(4096)))
	})
	t.Run("WaitMovedSlot", func(t *testing.T) { testWaitMovedSlot(t, cl, c) })
	t.Run("Compose", func(t *testing.T) { testCompose(t, c) })
	t.Run("Namespaces", func(t *testing.T) { testNamespaces(t, c) })
	t.Run("ConflictRace", func(t *testing.T) { testConflictRace(t, c) })
	t.Run("SpreadOverMasters", func(t *testing.T) {
		s, err := redisstore.New(c, newPrefix())
		must(t, err)
		defer s.Close()
		batch := make(map[string][]byte)
		for i := range 30 {
			batch[fmt.Sprintf("k%d/x", i)] = []byte("v")
		}
		must(t, s.Append(batch))
		masters := make(map[string]bool)
		cc := c.(*redis.ClusterClient)
		for k := range batch {
			m, err := cc.MasterForKey(context.Background(), s.Prefix()+":d"+"{"+strings.Split(k, "/")[0]+"}"+k)
			must(t, err)
			masters[m.Options().Addr] = true
		}
		if len(masters) != 3 {
			t.Errorf("30 families landed on %d masters, want 3", len(masters))
		}
		keys, err := s.Keys()
		must(t, err)
		if len(keys) != 30 {
			t.Errorf("Keys found %d keys over the masters, want 30", len(keys))
		}
	})
}

// testWaitMovedSlot moves the empty slot of a key family to another
// master behind the store's back, then appends to it through a store that
// waits for a replica: the store, sending each write and its WAIT to the
// master its stale map of the slots names, is redirected (MOVED) and
// sends them again to the new master.
func testWaitMovedSlot(t *testing.T, cl *redistest.Cluster, c redis.UniversalClient) {
	ctx := context.Background()
	cc := c.(*redis.ClusterClient)
	s, err := redisstore.New(c, newPrefix(), redisstore.WithWaitReplicas(1, 0))
	must(t, err)
	defer s.Close()
	const family = "moved-slot-family"
	name := s.Prefix() + ":d{" + family + "}" + family + "/x"
	slot, err := cc.ClusterKeySlot(ctx, name).Result()
	must(t, err)
	from, err := cc.MasterForKey(ctx, name)
	must(t, err)
	if n, err := from.ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 0 {
		t.Fatalf("slot %d holds %d keys (%v): want an empty one", slot, n, err)
	}
	var to, other *redis.Client
	var mu sync.Mutex
	must(t, cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if m.Options().Addr == from.Options().Addr {
			return nil
		}
		if to == nil {
			to = m
		} else {
			other = m
		}
		return nil
	}))
	toID, err := to.ClusterMyID(ctx).Result()
	must(t, err)
	// The new owner first, then the old, then the other master, as
	// redis-cli's resharding does; the replicas learn it from them.
	for _, m := range []*redis.Client{to, from, other} {
		must(t, m.Do(ctx, "cluster", "setslot", slot, "node", toID).Err())
	}
	must(t, cl.WaitHealthy(30*time.Second))
	small, big := []byte("small"), bytes.Repeat([]byte("b"), 20<<10) // the script, the fast path
	must(t, s.Append(map[string][]byte{family + "/x": small}))
	must(t, s.Append(map[string][]byte{family + "/x": big}))
	got, err := s.Get(family + "/x")
	must(t, err)
	if !bytes.Equal(got[0], append(bytes.Clone(small), big...)) {
		t.Fatalf("Get after the slot moved: %d bytes", len(got[0]))
	}
	if n, err := to.Exists(ctx, name).Result(); err != nil || n != 1 {
		t.Fatalf("the key is not on the slot's new master: %d, %v", n, err)
	}
	must(t, s.Drop())
}

func TestCompose(t *testing.T) { testCompose(t, client(t, redisAddr)) }

// testCompose builds zstd over a Buffer of a Dict over the store, and a
// numeric encoding over the store, and reads back what they wrote.
func testCompose(t *testing.T, c redis.UniversalClient) {
	prefix := newPrefix()
	open := func() partd.Store {
		s, err := redisstore.New(c, prefix, redisstore.WithInlineLimit(64<<10))
		must(t, err)
		return compress.Zstd(partd.NewBuffer(partd.NewDict(), s, 32<<10))
	}
	s := open()
	r := rand.New(rand.NewPCG(3, 4))
	want := make(map[string][]byte)
	for round := range 40 {
		batch := make(map[string][]byte)
		for i := range 20 {
			k := fmt.Sprintf("part%d/col%d", i%7, i)
			v := fmt.Appendf(nil, "round %d key %d %x;", round, i, r.Uint64())
			v = append(v, bytes.Repeat([]byte{byte(i)}, r.IntN(3000))...)
			batch[k] = v
			want[k] = append(want[k], v...)
		}
		must(t, s.Append(batch))
	}
	check := func(s partd.Store) {
		t.Helper()
		for k, w := range want {
			got, err := s.Get(k)
			must(t, err)
			if !bytes.Equal(got[0], w) {
				t.Fatalf("%s: got %d bytes, want %d", k, len(got[0]), len(w))
			}
		}
		keys, err := s.Keys()
		must(t, err)
		if len(keys) != len(want) {
			t.Fatalf("Keys = %d keys, want %d", len(keys), len(want))
		}
	}
	check(s)
	must(t, s.Close()) // spills what the Buffer holds
	s = open()
	check(s)
	must(t, s.Drop())
	must(t, s.Close())

	inner, err := redisstore.New(c, newPrefix())
	must(t, err)
	nums := encode.Numeric[int64](inner)
	must(t, nums.Append(map[string][]int64{"a": {1, 2, 3}}))
	must(t, nums.Append(map[string][]int64{"a": {4}, "b/c": {-5}}))
	got, err := nums.Get("a", "b/c")
	must(t, err)
	if !slices.Equal(got[0], []int64{1, 2, 3, 4}) || !slices.Equal(got[1], []int64{-5}) {
		t.Fatalf("Numeric over redis: got %v", got)
	}
	must(t, nums.Close())
}

func TestNamespaces(t *testing.T) { testNamespaces(t, client(t, redisAddr)) }

// testNamespaces checks that stores of different namespaces, and names
// that are not a store's, never see each other.
func testNamespaces(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	a, err := redisstore.New(c, newPrefix())
	must(t, err)
	defer a.Close()
	b, err := redisstore.New(c, a.Prefix()+"b") // a prefix of the other's names
	must(t, err)
	defer b.Close()
	foreign := []string{a.Prefix() + ":d{x}y", a.Prefix() + "-foreign"} // the tag does not match the key; not the namespace
	for _, n := range foreign {
		must(t, c.Set(ctx, n, "not a partd key", 0).Err())
	}

	must(t, a.Append(map[string][]byte{"k": []byte("a"), "t/u": []byte("a")}))
	must(t, b.Append(map[string][]byte{"k": []byte("b"), "t": []byte("b")})) // "t" beside a's "t/u": another namespace
	wantKeys(t, a, "k", "t/u")
	wantKeys(t, b, "k", "t")
	must(t, a.Drop())
	wantKeys(t, a)
	wantKeys(t, b, "k", "t")
	if v, err := b.Get("k"); err != nil || string(v[0]) != "b" {
		t.Fatalf("b's k after a's Drop: %q, %v", v, err)
	}
	for _, n := range foreign {
		if c.Exists(ctx, n).Val() != 1 {
			t.Errorf("Drop deleted %q, which is not the store's", n)
		}
		must(t, c.Del(ctx, n).Err())
	}
	must(t, b.Drop())
	checkClean(t, c, a)
}

func wantKeys(t testing.TB, s partd.Store, want ...string) {
	t.Helper()
	got, err := s.Keys()
	must(t, err)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys() = %q, want %q", got, want)
	}
}

// checkClean drops s and checks that its namespace holds no name at all
// (the undo records of recent Appends aside): no part, count or staged
// chunk outlives the keys.
func checkClean(t *testing.T, c redis.UniversalClient, s *redisstore.Store) {
	t.Helper()
	must(t, s.Drop())
	var left []string
	var mu sync.Mutex
	scan := func(ctx context.Context, n *redis.Client) error {
		iter := n.Scan(ctx, 0, s.Prefix()+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			left = append(left, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	ctx := context.Background()
	if cc, ok := c.(*redis.ClusterClient); ok {
		must(t, cc.ForEachMaster(ctx, scan))
	} else {
		must(t, scan(ctx, c.(*redis.Client)))
	}
	if len(left) > 0 {
		t.Fatalf("after Drop the namespace still holds %d names, such as %q", len(left), left[:min(len(left), 5)])
	}
}

func TestConflictRace(t *testing.T) { testConflictRace(t, client(t, redisAddr)) }

// testConflictRace has two stores create "r/x" and "r/x/y" at once: one may
// win, never both.
func testConflictRace(t *testing.T, c redis.UniversalClient) {
	prefix := newPrefix()
	s1, err := redisstore.New(c, prefix)
	must(t, err)
	defer s1.Close()
	s2, err := redisstore.New(c, prefix)
	must(t, err)
	defer s2.Close()
	for i := range 50 {
		parent, child := fmt.Sprintf("r%d/x", i), fmt.Sprintf("r%d/x/y", i)
		var wg sync.WaitGroup
		var e1, e2 error
		wg.Go(func() { e1 = s1.Append(map[string][]byte{parent: []byte("p"), fmt.Sprintf("o%d", i): []byte("1")}) })
		wg.Go(func() { e2 = s2.Append(map[string][]byte{child: []byte("c")}) })
		wg.Wait()
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("round %d: parent err %v, child err %v: want exactly one to fail", i, e1, e2)
		}
		for _, err := range []error{e1, e2} {
			if err != nil && !errors.Is(err, partd.ErrInvalidKey) {
				t.Fatalf("round %d: %v, want ErrInvalidKey", i, err)
			}
		}
	}
	must(t, s1.Drop())
}

func TestPrefixAndClient(t *testing.T) {
	c := client(t, redisAddr)
	for _, p := range []string{"", "a b", "a{b}", "a*", "ns/x", strings.Repeat("n", 65)} {
		if _, err := redisstore.New(c, p); err == nil {
			t.Errorf("New accepted namespace %q", p)
		}
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": redisAddr}})
	defer ring.Close()
	if _, err := redisstore.New(ring, "ns"); err == nil {
		t.Errorf("New accepted a *redis.Ring")
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer dead.Close()
	start := time.Now()
	if _, err := redisstore.New(dead, "ns", redisstore.WithTimeout(500*time.Millisecond)); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("New on a closed port: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New on a closed port took %v", d)
	}
}

// TestParts checks keys held in parts: sizes, Set between one part and
// many, Delete, and that nothing is left behind.
func TestParts(t *testing.T) {
	c := client(t, redisAddr)
	s, err := redisstore.New(c, newPrefix(), redisstore.WithPartSize(1024), redisstore.WithInlineLimit(3000))
	must(t, err)
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 10_000)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	var want []byte
	for _, n := range []int{10, 1014, 1, 2500, 1023, 4000} { // fill, overflow, tiny, staged...
		v := big[len(want) : len(want)+n]
		must(t, s.Append(map[string][]byte{"p/big": v, "small": []byte("s")}))
		want = append(want, v...)
	}
	sizes, err := s.Sizes("p/big", "small", "none", "bad//key")
	must(t, err)
	if !slices.Equal(sizes, []int64{int64(len(want)), 6, 0, 0}) {
		t.Fatalf("Sizes = %v, want [%d 6 0 0]", sizes, len(want))
	}
	got, err := s.Get("p/big")
	must(t, err)
	if !bytes.Equal(got[0], want) {
		t.Fatalf("p/big came back different")
	}
	must(t, s.Set("p/big", []byte("short now")))
	got, err = s.Get("p/big")
	must(t, err)
	if string(got[0]) != "short now" {
		t.Fatalf("after Set: %q", got[0])
	}
	must(t, s.Set("small", big))
	got, err = s.Get("small")
	must(t, err)
	if !bytes.Equal(got[0], big) {
		t.Fatalf("Set of 10000 bytes came back different")
	}
	must(t, partd.AppendVectors(s, []string{"small", "v"}, [][][]byte{{big[:600], big[600:2000]}, {big[:3], big[3:1500]}}))
	got, err = s.Get("small", "v")
	must(t, err)
	if !bytes.Equal(got[0], append(slices.Clone(big), big[:2000]...)) || !bytes.Equal(got[1], big[:1500]) {
		t.Fatalf("AppendVectors into parts came back different")
	}
	must(t, s.Delete("small"))
	wantKeys(t, s, "p/big", "v")
	// Conflicts hold for keys in parts.
	if err := s.Append(map[string][]byte{"p/big/x": []byte("1")}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("p/big/x beside p/big: %v", err)
	}
	checkClean(t, c, s)
}

// TestDeadServer checks that every call on a killed server fails fast,
// wrapping ErrUnavailable.
func TestDeadServer(t *testing.T) {
	srv := redistest.NewServer(t)
	const timeout = 500 * time.Millisecond
	s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: []string{srv.Addr}}, "dead", redisstore.WithTimeout(timeout), redisstore.WithInlineLimit(16))
	must(t, err)
	defer s.Close()
	must(t, s.Append(map[string][]byte{"k": []byte("v")}))
	srv.Stop()
	checkCallsFail(t, s, timeout, false)
}

// TestHungServer checks that calls on a server that stops answering (its
// connections open) fail within the timeout, and work once it answers.
func TestHungServer(t *testing.T) {
	srv := redistest.NewServer(t)
	const timeout = 500 * time.Millisecond
	s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: []string{srv.Addr}}, "hung", redisstore.WithTimeout(timeout), redisstore.WithInlineLimit(16))
	must(t, err)
	defer s.Close()
	must(t, s.Append(map[string][]byte{"k": []byte("v")}))
	must(t, srv.Pause())
	checkCallsFail(t, s, timeout, true)
	must(t, srv.Resume())
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get("k")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Resume: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, s.Drop())
}

func checkCallsFail(t *testing.T, s *redisstore.Store, timeout time.Duration, sent bool) {
	t.Helper()
	calls := map[string]func() error{
		"Append": func() error { return s.Append(map[string][]byte{"k": []byte("v"), "j/x": []byte("w")}) },
		// Over the inline limit: staged first, which fails, so nothing is written.
		"AppendStaged": func() error { return s.Append(map[string][]byte{"k": make([]byte, 100)}) },
		"Get":          func() error { _, err := s.Get("k"); return err },
		"Keys":         func() error { _, err := s.Keys(); return err },
		"Set":          func() error { return s.Set("k", []byte("x")) },
		"Delete":       func() error { return s.Delete("k") },
		"Drop":         func() error { return s.Drop() },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		d := time.Since(start)
		if !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", name, err)
		}
		t.Logf("%s failed after %v: %v", name, d, err)
		if d > 4*timeout+time.Second {
			t.Errorf("%s took %v with a timeout of %v", name, d, timeout)
		}
		if name == "Append" && sent && !errors.Is(err, redisstore.ErrMaybeWritten) {
			t.Errorf("Append sent to a hung server: err = %v, want ErrMaybeWritten", err)
		}
		if name == "AppendStaged" && errors.Is(err, redisstore.ErrMaybeWritten) {
			t.Errorf("Append that failed staging: err = %v, want no ErrMaybeWritten", err)
		}
	}
}

// TestClusterFailover kills the master that holds a key: calls on it fail
// within the timeout, and work again once its replica has taken over.
func TestClusterFailover(t *testing.T) {
	cl := redistest.NewCluster(t, 3, 1)
	const timeout = 500 * time.Millisecond
	s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: cl.Addrs(), IsClusterMode: true}, "failover", redisstore.WithTimeout(timeout))
	must(t, err)
	defer s.Close()
	must(t, s.Append(map[string][]byte{"df/a": []byte("1"), "other/b": []byte("2")}))

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer cc.Close()
	m, err := cc.MasterForKey(context.Background(), "failover:d{df}df/a")
	must(t, err)
	victim := cl.Node(m.Options().Addr)
	if victim == nil {
		t.Fatalf("no node at %s", m.Options().Addr)
	}
	victim.Stop()

	for _, call := range []func() error{
		func() error { return s.Append(map[string][]byte{"df/a": []byte("x")}) },
		func() error { _, err := s.Get("df/a"); return err },
	} {
		start := time.Now()
		err := call()
		t.Logf("a call on the dead master returned after %v: %v", time.Since(start), err)
		if d := time.Since(start); d > 4*timeout+time.Second {
			t.Errorf("a call on the dead master took %v with a timeout of %v", d, timeout)
		}
		if err == nil {
			// The replica may already have taken over: then the call
			// succeeds, which is fine too.
			continue
		}
		if !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("call on the dead master: %v, want ErrUnavailable", err)
		}
	}

	// Once the replica is master, the store works again.
	start := time.Now()
	must(t, cl.WaitHealthy(30*time.Second))
	t.Logf("failed over after %v", time.Since(start))
	deadline := time.Now().Add(30 * time.Second)
	for tries := 1; ; tries++ {
		err := s.Append(map[string][]byte{"df/a": []byte("2")})
		if err == nil {
			t.Logf("the store wrote again after %v, %d tries", time.Since(start), tries)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := s.Get("df/a", "other/b")
	must(t, err)
	if !strings.HasSuffix(string(got[0]), "2") || string(got[1]) != "2" {
		t.Fatalf("after failover: %q", got)
	}
	keys, err := s.Keys()
	must(t, err)
	if !slices.Equal(keys, []string{"df/a", "other/b"}) {
		t.Fatalf("Keys after failover = %q", keys)
	}
}
