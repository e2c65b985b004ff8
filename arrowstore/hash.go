package arrowstore

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
)

// The constants of the row hash (see HashRows). TestHashGolden pins them.
const (
	hashSeed = 0x9E3779B97F4A7C15
	nullWord = 0x5851F42D4C957F2D
	nanWord  = 0x7FF8000000000001
)

// mix64 is MurmurHash3's fmix64: a bijection whose every output bit
// depends on every input bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// HashRows returns the hash of each row of rec over the columns named by
// (in that order), appended to dst[:0]. Equal values hash equal, NULLs
// too. A column that is not in rec, or whose type it cannot hash (lists,
// structs, maps, unions, intervals), is an error.
//
// The hash decides which partition a row lands in, so it is fixed: the
// same values hash the same in every run, process and machine, on either
// byte order, and a change would move every row of every stored shuffle.
// A row's hash over the columns c1 … ck is
//
//	h0 = 0x9E3779B97F4A7C15;  hj = mix64(hj-1 XOR v(cj))  for j = 1 … k
//
// where mix64 is MurmurHash3's 64-bit finalizer (fmix64) and v is the
// value's own 64-bit word:
//
//   - NULL, of any type: 0x5851F42D4C957F2D;
//   - signed integers, Date32, Date64, Time32, Time64, Timestamp, Duration,
//     Decimal32, Decimal64: the value as an int64 (two's complement), in
//     the column's own unit (a Timestamp in ms and one in µs differ);
//   - unsigned integers: the value as a uint64;
//   - booleans: 0 or 1;
//   - Float16, Float32, Float64: the IEEE-754 bits of the value as a
//     float64, with -0 as +0 and every NaN as 0x7FF8000000000001;
//   - Decimal128: low word XOR mix64(high word); Decimal256: w0 XOR
//     mix64(w1 XOR mix64(w2 XOR mix64(w3))), w0 the lowest word;
//   - Binary, String, LargeBinary, LargeString, BinaryView, StringView,
//     FixedSizeBinary: XXH3-64 (seed 0) of the bytes;
//   - a dictionary-encoded column: v of the value its index points at, so
//     that it hashes as the plain column would;
//   - an extension type: v of its storage.
//
// So equal values hash equal across integer widths (an int32 column and an
// int64 one) and across string and binary layouts.
func HashRows(rec arrow.RecordBatch, by []string, dst []uint64) ([]uint64, error) {
	cols, err := hashColumns(rec, by)
	if err != nil {
		return dst, err
	}
	n := int(rec.NumRows())
	h := grow(dst, n)
	for i := range h {
		h[i] = hashSeed
	}
	var words []uint64
	for j, c := range cols {
		words = grow(words, n)
		if err := valueWords(rec.Column(c), words); err != nil {
			return dst, fmt.Errorf("arrowstore: hash column %q: %w", by[j], err)
		}
		for i, w := range words {
			h[i] = mix64(h[i] ^ w)
		}
	}
	return h, nil
}

// hashColumns returns the indexes of the columns named by.
func hashColumns(rec arrow.RecordBatch, by []string) ([]int, error) {
	if len(by) == 0 {
		return nil, fmt.Errorf("arrowstore: hash: no columns to hash by")
	}
	sc := rec.Schema()
	cols := make([]int, len(by))
	for j, name := range by {
		idx := sc.FieldIndices(name)
		switch len(idx) {
		case 0:
			names := make([]string, sc.NumFields())
			for i, f := range sc.Fields() {
				names[i] = f.Name
			}
			return nil, fmt.Errorf("arrowstore: hash: no column %q in the batch (its columns: %s)", name, strings.Join(names, ", "))
		case 1:
			cols[j] = idx[0]
		default:
			return nil, fmt.Errorf("arrowstore: hash: %d columns are named %q", len(idx), name)
		}
	}
	return cols, nil
}

func grow(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

// valueWords writes the word v of each value of arr (see the comment on
// hashSeed) to out, which has arr.Len() elements.
func valueWords(arr arrow.Array, out []uint64) error {
	switch a := arr.(type) {
	case *array.Null:
		for i := range out {
			out[i] = nullWord
		}
		return nil
	case *array.Boolean:
		for i := range out {
			if a.Value(i) {
				out[i] = 1
			} else {
				out[i] = 0
			}
		}
	case *array.Int8:
		signed(a.Values(), out)
	case *array.Int16:
		signed(a.Values(), out)
	case *array.Int32:
		signed(a.Values(), out)
	case *array.Int64:
		signed(a.Values(), out)
	case *array.Uint8:
		unsigned(a.Values(), out)
	case *array.Uint16:
		unsigned(a.Values(), out)
	case *array.Uint32:
		unsigned(a.Values(), out)
	case *array.Uint64:
		unsigned(a.Values(), out)
	case *array.Date32:
		signed(a.Values(), out)
	case *array.Date64:
		signed(a.Values(), out)
	case *array.Time32:
		signed(a.Values(), out)
	case *array.Time64:
		signed(a.Values(), out)
	case *array.Timestamp:
		signed(a.Values(), out)
	case *array.Duration:
		signed(a.Values(), out)
	case *array.Decimal32:
		signed(a.Values(), out)
	case *array.Decimal64:
		signed(a.Values(), out)
	case *array.Float16:
		for i, v := range a.Values() {
			out[i] = floatWord(float64(v.Float32()))
		}
	case *array.Float32:
		for i, v := range a.Values() {
			out[i] = floatWord(float64(v))
		}
	case *array.Float64:
		for i, v := range a.Values() {
			out[i] = floatWord(v)
		}
	case *array.Decimal128:
		for i, v := range a.Values() {
			out[i] = v.LowBits() ^ mix64(uint64(v.HighBits()))
		}
	case *array.Decimal256:
		for i, v := range a.Values() {
			w := v.Array()
			out[i] = w[0] ^ mix64(w[1]^mix64(w[2]^mix64(w[3])))
		}
	case *array.String:
		for i := range out {
			out[i] = xxh3.HashString(a.Value(i))
		}
	case *array.LargeString:
		for i := range out {
			out[i] = xxh3.HashString(a.Value(i))
		}
	case *array.StringView:
		for i := range out {
			out[i] = xxh3.HashString(a.Value(i))
		}
	case *array.Binary:
		for i := range out {
			out[i] = xxh3.Hash(a.Value(i))
		}
	case *array.LargeBinary:
		for i := range out {
			out[i] = xxh3.Hash(a.Value(i))
		}
	case *array.BinaryView:
		for i := range out {
			out[i] = xxh3.Hash(a.Value(i))
		}
	case *array.FixedSizeBinary:
		for i := range out {
			out[i] = xxh3.Hash(a.Value(i))
		}
	case *array.Dictionary:
		dict := a.Dictionary()
		words := make([]uint64, dict.Len())
		if err := valueWords(dict, words); err != nil {
			return err
		}
		for i := range out {
			if a.IsNull(i) {
				out[i] = nullWord
			} else {
				out[i] = words[a.GetValueIndex(i)]
			}
		}
		return nil
	case array.ExtensionArray:
		return valueWords(a.Storage(), out)
	default:
		return fmt.Errorf("cannot hash values of type %s", arr.DataType())
	}
	if arr.NullN() > 0 {
		for i := range out {
			if arr.IsNull(i) {
				out[i] = nullWord
			}
		}
	}
	return nil
}

func signed[T ~int8 | ~int16 | ~int32 | ~int64](vals []T, out []uint64) {
	for i, v := range vals {
		out[i] = uint64(int64(v))
	}
}

func unsigned[T ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, out []uint64) {
	for i, v := range vals {
		out[i] = uint64(v)
	}
}

func floatWord(f float64) uint64 {
	switch {
	case f == 0:
		return 0
	case f != f:
		return nanWord
	}
	return math.Float64bits(f)
}
