package shuffle

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

func TestGeneratorDeterministic(t *testing.T) {
	a, b, c := NewGenerator(7, 1), NewGenerator(7, 1), NewGenerator(7, 2)
	same := 0
	seen := map[uint64]bool{}
	for i := range 1000 {
		ra, rb, rc := a.Next(), b.Next(), c.Next()
		if ra != rb {
			t.Fatalf("row %d differs between two generators of the same worker: %+v vs %+v", i, ra, rb)
		}
		if ra.Key == rc.Key && ra.Name == rc.Name {
			same++
		}
		for _, r := range []Row{ra, rc} {
			if seen[r.ID] {
				t.Fatalf("duplicate id %x", r.ID)
			}
			seen[r.ID] = true
		}
		if ra.ID>>40 != 1 || rc.ID>>40 != 2 {
			t.Fatalf("ids do not carry the worker: %x %x", ra.ID, rc.ID)
		}
	}
	if same > 5 {
		t.Errorf("workers 1 and 2 generate %d identical rows of 1000", same)
	}
}

func TestPartitionBalanced(t *testing.T) {
	const parts, n = 64, 64_000
	counts := make([]int, parts)
	g := NewGenerator(1, 0)
	for range n {
		p := Partition(g.Next().Key, parts)
		if p < 0 || p >= parts {
			t.Fatalf("partition %d out of range", p)
		}
		counts[p]++
	}
	lo, hi := slices.Min(counts), slices.Max(counts)
	if lo < n/parts*8/10 || hi > n/parts*12/10 {
		t.Errorf("partitions unbalanced: min %d max %d (mean %d)", lo, hi, n/parts)
	}
}

func TestPartitionKeyRoundTrip(t *testing.T) {
	for _, p := range []int{0, 7, 63, 99999} {
		k := PartitionKey(p)
		if err := partd.ValidateKey(k); err != nil {
			t.Fatal(err)
		}
		if q, ok := ParsePartitionKey(k); !ok || q != p {
			t.Errorf("ParsePartitionKey(%q) = %d, %v", k, q, ok)
		}
	}
	for _, k := range []string{"shuffle/part-7", "x/part-00001", "shuffle/part-00001/value"} {
		if _, ok := ParsePartitionKey(k); ok {
			t.Errorf("ParsePartitionKey(%q) accepted", k)
		}
	}
}

func TestStatsOrderIndependent(t *testing.T) {
	g := NewGenerator(3, 0)
	rows := make([]Row, 500)
	for i := range rows {
		rows[i] = g.Next()
	}
	var fwd, rev, split1, split2 Stats
	for i, r := range rows {
		fwd.Add(r)
		rev.Add(rows[len(rows)-1-i])
		if i%3 == 0 {
			split1.Add(r)
		} else {
			split2.Add(r)
		}
	}
	split1.Merge(split2)
	if fwd != rev || fwd != split1 {
		t.Fatalf("stats depend on order: %v %v %v", fwd, rev, split1)
	}
	// Each kind of damage changes the stats.
	damaged := map[string]func([]Row) []Row{
		"lost":       func(r []Row) []Row { return r[1:] },
		"duplicated": func(r []Row) []Row { return append(r, r[0]) },
		"value":      func(r []Row) []Row { r[5].Value += 0.01; return r },
		"name":       func(r []Row) []Row { r[5].Name = strings.ToUpper(r[5].Name); return r },
		"key":        func(r []Row) []Row { r[5].Key ^= 1 << 20; return r },
		"id":         func(r []Row) []Row { r[5].ID++; return r },
		// A pair of duplicated rows cancels in the xor but not in the sum or count.
		"pair": func(r []Row) []Row { return append(r, r[1], r[1]) },
	}
	for name, f := range damaged {
		var s Stats
		for _, r := range f(slices.Clone(rows)) {
			s.Add(r)
		}
		if s == fwd {
			t.Errorf("%s: damage not detected", name)
		}
	}
}

func TestVerify(t *testing.T) {
	mk := func(rows ...uint64) Stats { return Stats{Rows: rows[0], Sum: rows[1], Xor: rows[2]} }
	mapped := [][]Stats{
		{mk(1, 10, 10), mk(2, 20, 5), {}},
		{mk(3, 30, 1), {}, {}},
	}
	ok := map[int]Stats{0: mk(4, 40, 11), 1: mk(2, 20, 5)}
	total, err := Verify(3, mapped, ok)
	if err != nil || total.Rows != 6 {
		t.Fatalf("Verify = %v, %v", total, err)
	}
	cases := map[string]struct {
		reduced map[int]Stats
		want    string
	}{
		"count":        {map[int]Stats{0: mk(3, 40, 11), 1: mk(2, 20, 5)}, "partition 0: row count mismatch: mapped 4 rows, reduced 3"},
		"checksum":     {map[int]Stats{0: mk(4, 41, 11), 1: mk(2, 20, 5)}, "partition 0: checksum mismatch"},
		"missing":      {map[int]Stats{0: mk(4, 40, 11)}, "partition 1: no reducer reported it"},
		"extra":        {map[int]Stats{0: mk(4, 40, 11), 1: mk(2, 20, 5), 2: mk(1, 1, 1)}, "partition 2: row count mismatch: mapped 0 rows, reduced 1"},
		"out of range": {map[int]Stats{0: mk(4, 40, 11), 1: mk(2, 20, 5), 3: {}}, "reported partition 3 of 3"},
	}
	for name, c := range cases {
		_, err := Verify(3, mapped, c.reduced)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Verify error %v, want it to contain %q", name, err, c.want)
		}
	}
	if _, err := Verify(3, [][]Stats{{{}}}, ok); err == nil {
		t.Error("a worker reporting 1 of 3 partitions passed")
	}
	var me *MismatchError
	if _, err := Verify(3, mapped, map[int]Stats{}); !errors.As(err, &me) || len(me.Bad) != 2 {
		t.Errorf("Verify with nothing reduced: %v", err)
	}
}

// shuffleOn runs workers mappers concurrently and then reducers reducers on
// store, the way the command's processes do, and verifies.
func shuffleOn(t *testing.T, store partd.Store, format Format, comp compress.Setting, workers, reducers, rows, parts int, corrupt int) error {
	t.Helper()
	layers, err := NewLayers(store, format, comp)
	if err != nil {
		t.Fatal(err)
	}
	mapped := make([][]Stats, workers)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			mapped[w], errs[w] = Map(layers, MapConfig{Seed: 42, Worker: w, Rows: rows, Partitions: parts, BatchRows: 1000})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if layers.Counter().Appended() == 0 {
		t.Fatal("counter saw no bytes appended")
	}
	if corrupt >= 0 {
		if err := Corrupt(store, format, corrupt, nil); err != nil {
			t.Fatal(err)
		}
	}
	reduced := map[int]Stats{}
	for r := range reducers {
		got, err := Reduce(layers, ReduceConfig{Reducer: r, Reducers: reducers, Partitions: parts})
		if err != nil {
			return err
		}
		for p, s := range got {
			reduced[p] = s
		}
	}
	total, err := Verify(parts, mapped, reduced)
	if err == nil && total.Rows != uint64(workers*rows) {
		t.Fatalf("verified %d rows, want %d", total.Rows, workers*rows)
	}
	return err
}

func TestShuffleRoundTrip(t *testing.T) {
	for _, format := range []Format{Msgpack, Columns, Arrow} {
		for _, comp := range []string{"none", "zstd"} {
			t.Run(string(format)+"/"+comp, func(t *testing.T) {
				setting, err := compress.Parse(comp)
				if err != nil {
					t.Fatal(err)
				}
				file, err := partd.NewFile(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				store := partd.NewBuffer(partd.NewDict(), file, 64<<10) // spills
				defer store.Close()
				if err := shuffleOn(t, store, format, setting, 3, 2, 5000, 16, -1); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestCorruptionDetected(t *testing.T) {
	for _, format := range []Format{Msgpack, Columns, Arrow} {
		t.Run(string(format), func(t *testing.T) {
			store := partd.NewDict()
			defer store.Close()
			err := shuffleOn(t, store, format, compress.Setting{}, 2, 2, 2000, 8, 5)
			var me *MismatchError
			if !errors.As(err, &me) || len(me.Bad) != 1 || me.Bad[0].Partition != 5 ||
				!strings.Contains(err.Error(), "partition 5: checksum mismatch") {
				t.Fatalf("err = %v, want a checksum mismatch in partition 5 only", err)
			}
		})
	}
	t.Run("zstd", func(t *testing.T) {
		// Under compression the flipped bit breaks the frame's checksum.
		store := partd.NewDict()
		defer store.Close()
		err := shuffleOn(t, store, Msgpack, compress.Setting{Algorithm: compress.ZstdAlgorithm}, 1, 1, 1000, 4, 2)
		if !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
}

func TestMisplacedRow(t *testing.T) {
	store := partd.NewDict()
	defer store.Close()
	l, err := NewLayers(store, Msgpack, compress.Setting{})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGenerator(1, 0)
	r := g.Next()
	wrong := (Partition(r.Key, 8) + 1) % 8
	if err := l.Append(map[int][]Row{wrong: {r}}); err != nil {
		t.Fatal(err)
	}
	_, err = Reduce(l, ReduceConfig{Reducer: 0, Reducers: 1, Partitions: 8})
	if err == nil || !strings.Contains(err.Error(), "holds row") {
		t.Fatalf("Reduce = %v, want a misplaced-row error", err)
	}
}

func TestCleanup(t *testing.T) {
	store := partd.NewDict()
	defer store.Close()
	l, _ := NewLayers(store, Columns, compress.Setting{})
	g := NewGenerator(1, 0)
	if err := l.Append(map[int][]Row{1: {g.Next()}, 2: {g.Next()}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Append(map[string][]byte{"other": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	n, err := Cleanup(store)
	if err != nil || n == 0 {
		t.Fatalf("Cleanup = %d, %v", n, err)
	}
	keys, _ := store.Keys()
	if !slices.Equal(keys, []string{"other"}) {
		t.Fatalf("keys after Cleanup: %q", keys)
	}
}

func TestStoredKeys(t *testing.T) {
	for _, format := range []Format{Msgpack, Columns, Arrow} {
		store := partd.NewDict()
		l, _ := NewLayers(store, format, compress.Setting{})
		if _, err := Map(l, MapConfig{Seed: 1, Rows: 500, Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		keys, _ := store.Keys()
		if len(keys) == 0 {
			t.Fatal("nothing stored")
		}
		if err := store.Delete(StoredKeys(format, 4, nil)...); err != nil {
			t.Fatal(err)
		}
		if left, _ := store.Keys(); len(left) != 0 {
			t.Errorf("%s: keys not in StoredKeys: %q", format, left)
		}
		store.Close()
	}
}

func TestMine(t *testing.T) {
	seen := map[int]int{}
	for r := range 3 {
		for _, p := range Mine(r, 3, 10) {
			seen[p]++
		}
	}
	if len(seen) != 10 {
		t.Fatalf("partitions covered: %v", seen)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("partition %d read %d times", p, n)
		}
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("Columns"); err != nil || f != Columns {
		t.Errorf("ParseFormat(Columns) = %v, %v", f, err)
	}
	if _, err := ParseFormat("csv"); err == nil {
		t.Error("ParseFormat(csv) accepted")
	}
}

// TestAttempts maps worker 0 twice, as a retry after a kill would, each
// attempt under keys of its own: reading the second attempt verifies, and
// reading both has every row twice.
func TestAttempts(t *testing.T) {
	for _, format := range []Format{Msgpack, Columns, Arrow} {
		t.Run(string(format), func(t *testing.T) {
			store := partd.NewDict()
			defer store.Close()
			l, err := NewLayers(store, format, compress.Setting{})
			if err != nil {
				t.Fatal(err)
			}
			var mapped []Stats
			for try := range 2 {
				l.WriteAs(Attempt{Worker: 0, Try: try})
				if mapped, err = Map(l, MapConfig{Seed: 3, Rows: 3000, Partitions: 8, BatchRows: 500}); err != nil {
					t.Fatal(err)
				}
			}
			reduce := func(attempts []Attempt) error {
				l.ReadFrom(attempts)
				got, err := Reduce(l, ReduceConfig{Reducer: 0, Reducers: 1, Partitions: 8})
				if err != nil {
					return err
				}
				total, err := Verify(8, [][]Stats{mapped}, got)
				if err == nil && total.Rows != 3000 {
					return fmt.Errorf("%d rows", total.Rows)
				}
				return err
			}
			if err := reduce([]Attempt{{0, 1}}); err != nil {
				t.Fatalf("the second attempt alone: %v", err)
			}
			if err := reduce([]Attempt{{0, 0}, {0, 1}}); err == nil {
				t.Fatal("both attempts verified")
			}
			if err := store.Delete(StoredKeys(format, 8, []Attempt{{0, 0}, {0, 1}})...); err != nil {
				t.Fatal(err)
			}
			if left, _ := store.Keys(); len(left) != 0 {
				t.Errorf("keys not in StoredKeys: %q", left)
			}
		})
	}
}
