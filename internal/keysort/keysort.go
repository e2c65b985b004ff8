// Package keysort holds the module's one radix sort, Pairs: an LSD radix
// sort of 64-bit keys that carry an index, in linear time. Strings sorts
// strings with it several times faster than slices.Sort when there are many
// and they share a prefix, as the keys of one batch do ("key-000123",
// "df/part-00001"): it radix-sorts the eight bytes that follow the prefix
// every string shares, then compares only the strings those bytes do not
// tell apart. The Log sorts the runs of a Get into file order with Pairs.
package keysort

import (
	"encoding/binary"
	"slices"
	"strings"
)

// Below this many strings, Strings is slices.Sort.
const small = 128

// Strings sorts s in increasing order, as slices.Sort does.
func Strings(s []string) {
	if len(s) < small || len(s) > 1<<32-1 {
		slices.Sort(s)
		return
	}
	order, _ := Order(s, nil)
	sorted := make([]string, len(s))
	for k, it := range order {
		sorted[k] = s[it.I]
	}
	copy(s, sorted)
}

// Order returns the order of s's strings, increasing, without changing s:
// the Ith string of s is the kth smallest where order[k].I == I (and equal
// strings keep their order). buf is scratch it may use (nil, or the buf an
// earlier call returned); it returns the scratch to pass next time, which
// holds order.
func Order(s []string, buf []Pair) (order, scratch []Pair) {
	n := len(s)
	buf = slices.Grow(buf[:0], 2*n)[:2*n]
	items := buf[:n:n]
	if n < small || n > 1<<32-1 {
		for i := range items {
			items[i] = Pair{I: uint32(i)}
		}
		slices.SortStableFunc(items, func(a, b Pair) int { return strings.Compare(s[a.I], s[b.I]) })
		return items, buf
	}
	skip := commonPrefix(s)
	for i, str := range s {
		items[i] = Pair{Key: word(str, skip), I: uint32(i)}
	}
	items, _ = Pairs(items, buf[n:2*n:2*n])
	// Strings whose eight bytes after the prefix are equal: compare them.
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].Key == items[i].Key {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(items[i:j], func(a, b Pair) int { return strings.Compare(s[a.I][skip:], s[b.I][skip:]) })
		}
		i = j
	}
	return items, buf
}

// Pair is what Pairs sorts: a key, and the index of what it stands for.
type Pair struct {
	Key uint64
	I   uint32
}

// word returns the eight bytes of s from skip on as a big-endian number,
// zero-padded: numbers order as the bytes do, and a string that ends
// within them compares equal to its zero-padded extensions, which the
// comparison of ties then orders.
func word(s string, skip int) uint64 {
	var b [8]byte
	copy(b[:], s[skip:])
	return binary.BigEndian.Uint64(b[:])
}

// commonPrefix returns the length of the prefix every string of s shares.
func commonPrefix(s []string) int {
	p := s[0]
	for _, str := range s[1:] {
		n := min(len(p), len(str))
		i := 0
		for i < n && p[i] == str[i] {
			i++
		}
		p = p[:i]
		if i == 0 {
			break
		}
	}
	return len(p)
}

// Pairs sorts p by Key, stably (pairs with equal keys keep their order),
// with tmp as scratch, and returns the sorted pairs and the other slice:
// either may be p's array, so a caller that pools both keeps both. It is an
// LSD radix sort, from the lowest digit, that skips the digits every key
// shares: linear in len(p). Digits are 8 bits for a few thousand pairs and
// 11 bits for more, where fewer passes pay for the larger count table.
func Pairs(p, tmp []Pair) (sorted, spare []Pair) {
	if len(p) == 0 {
		return p, tmp
	}
	bits := uint(8)
	if len(p) >= 4096 {
		bits = 11
	}
	mask := uint64(1)<<bits - 1
	tmp = slices.Grow(tmp[:0], len(p))[:len(p)]
	var table [1 << 11]int
	count := table[:1<<bits]
	for shift := uint(0); shift < 64; shift += bits {
		clear(count)
		for _, it := range p {
			count[it.Key>>shift&mask]++
		}
		if count[p[0].Key>>shift&mask] == len(p) {
			continue // every key has this digit
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, it := range p {
			d := it.Key >> shift & mask
			tmp[count[d]] = it
			count[d]++
		}
		p, tmp = tmp, p
	}
	return p, tmp
}
