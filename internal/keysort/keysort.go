// Package keysort sorts strings several times faster than slices.Sort when
// there are many and they share a prefix, as the keys of one batch do
// ("key-000123", "df/part-00001"): it radix-sorts the eight bytes that
// follow the prefix every string shares, then compares only the strings
// those bytes do not tell apart.
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
	skip := commonPrefix(s)
	items := make([]item, len(s))
	for i, str := range s {
		items[i] = item{word: word(str, skip), i: uint32(i)}
	}
	items = radix(items)
	// Strings whose eight bytes after the prefix are equal: compare them.
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].word == items[i].word {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(items[i:j], func(a, b item) int { return strings.Compare(s[a.i][skip:], s[b.i][skip:]) })
		}
		i = j
	}
	sorted := make([]string, len(s))
	for k, it := range items {
		sorted[k] = s[it.i]
	}
	copy(s, sorted)
}

type item struct {
	word uint64 // the eight bytes after the shared prefix, big-endian, zero-padded
	i    uint32 // the string's index
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

// radix sorts items by word, a byte a pass from the lowest, skipping the
// bytes that are the same in every word, and returns the sorted slice
// (items or a new one).
func radix(items []item) []item {
	tmp := make([]item, len(items))
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		clear(count[:])
		for _, it := range items {
			count[byte(it.word>>shift)]++
		}
		if count[byte(items[0].word>>shift)] == len(items) {
			continue
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, it := range items {
			d := byte(it.word >> shift)
			tmp[count[d]] = it
			count[d]++
		}
		items, tmp = tmp, items
	}
	return items
}
