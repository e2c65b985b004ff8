package keysort

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func check(t testing.TB, s []string) {
	t.Helper()
	want := slices.Clone(s)
	slices.Sort(want)
	got := slices.Clone(s)
	Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Strings(%d strings) differs from slices.Sort", len(s))
	}
}

func TestStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i int) string{
		"numbered":    func(i int) string { return fmt.Sprintf("key-%06d", rng.IntN(100_000)) },
		"tuple":       func(i int) string { return fmt.Sprintf("df/part-%05d", rng.IntN(2_000)) },
		"long-shared": func(i int) string { return strings.Repeat("x", 30) + fmt.Sprint(rng.IntN(1e9)) },
		"prefixes":    func(i int) string { return strings.Repeat("a", rng.IntN(20)) },
		"binary": func(i int) string {
			b := make([]byte, rng.IntN(12))
			rng.Shuffle(0, nil)
			for j := range b {
				b[j] = byte(rng.IntN(4) * 85)
			}
			return string(b)
		},
		"nothing-shared": func(i int) string { return fmt.Sprint(rng.Uint64()) },
		"with-empty": func(i int) string {
			if i%50 == 0 {
				return ""
			}
			return fmt.Sprint(rng.IntN(1000))
		},
	}
	for name, gen := range shapes {
		for _, n := range []int{0, 1, small - 1, small, 1000, 10_000} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				s := make([]string, n)
				for i := range s {
					s[i] = gen(i)
				}
				check(t, s)
			})
		}
	}
}

func FuzzStrings(f *testing.F) {
	f.Add([]byte("key-1\x00key-2\x00key-10\x00k\x00\x00"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, repeat uint8) {
		parts := strings.Split(string(data), "\x00")
		var s []string
		for range int(repeat)%8 + 1 {
			s = append(s, parts...)
		}
		for len(s) < small { // reach the radix path
			s = append(s, parts...)
		}
		check(t, s)
	})
}

func BenchmarkStrings(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", rng.IntN(100_000))
	}
	s := make([]string, len(keys))
	b.Run("keysort", func(b *testing.B) {
		for b.Loop() {
			copy(s, keys)
			Strings(s)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for b.Loop() {
			copy(s, keys)
			slices.Sort(s)
		}
	})
}

func TestOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var buf []Pair
	for _, n := range []int{0, 1, 5, 127, 128, 1000, 20_000, 300} {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("key-%06d", rng.IntN(n*2+1))
			if i%9 == 0 {
				s[i] = s[i][:4+rng.IntN(6)]
			}
		}
		orig := slices.Clone(s)
		var order []Pair
		order, buf = Order(s, buf)
		if !slices.Equal(s, orig) || len(order) != n {
			t.Fatalf("%d: Order changed s or gave %d places", n, len(order))
		}
		got := make([]string, n)
		seen := make([]bool, n)
		for k, p := range order {
			got[k] = s[p.I]
			if seen[p.I] {
				t.Fatalf("%d: index %d twice", n, p.I)
			}
			seen[p.I] = true
			if k > 0 && got[k] == got[k-1] && order[k-1].I > p.I {
				t.Fatalf("%d: equal strings out of their order", n)
			}
		}
		want := slices.Clone(s)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%d: not in order", n)
		}
	}
}
