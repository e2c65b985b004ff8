package dfshuffle

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
)

// Stats is the count and order-independent checksum of a set of rows. The
// zero value is the Stats of no rows.
type Stats struct {
	Rows int64  `json:"rows"` // how many rows
	Sum  uint64 `json:"sum"`  // wrapping sum of the rows' checksums: catches a duplicate
	Xor  uint64 `json:"xor"`  // xor of the rows' checksums
}

// Merge adds the rows counted in o.
func (s *Stats) Merge(o Stats) {
	s.Rows += o.Rows
	s.Sum += o.Sum
	s.Xor ^= o.Xor
}

// add counts one row whose checksum is h.
func (s *Stats) add(h uint64) {
	s.Rows++
	s.Sum += h
	s.Xor ^= h
}

// String formats the stats for messages.
func (s Stats) String() string {
	return fmt.Sprintf("%d rows, sum %016x, xor %016x", s.Rows, s.Sum, s.Xor)
}

// Checksum folds the stats into one number for summaries.
func (s Stats) Checksum() uint64 { return mix64(s.Sum ^ mix64(s.Xor^mix64(uint64(s.Rows)))) }

const (
	checkSeed = 0x243F6A8885A308D3
	nullWord  = 0x13198A2E03707344
)

// mix64 is MurmurHash3's fmix64.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// columnSalt is what column j of schema mixes into every row's checksum, so
// that a value moved to another column, renamed or retyped changes it.
func columnSalt(j int, f arrow.Field) uint64 {
	return xxh3.HashString(fmt.Sprintf("%d\x00%s\x00%s", j, f.Name, f.Type.Fingerprint()))
}

// RowChecksums returns the checksum of each row of rec, appended to dst[:0]:
//
//	h = checkSeed;  h = mix64(h XOR salt_j XOR w_j) for each column j
//
// where salt_j is an XXH3 of the column's position, name and type
// fingerprint and w_j the value's word: NULL (of any type) a fixed word;
// integers, times, dates, durations and decimals of up to 64 bits their
// bits; floats their IEEE-754 bits as stored (NaN payloads and -0 kept);
// booleans 0 or 1; strings and binaries XXH3 of the bytes; dictionary
// columns the word of the value; lists, maps and structs a fold of their
// children's words; any other type XXH3 of its value's text form.
func RowChecksums(rec arrow.RecordBatch, dst []uint64) ([]uint64, error) {
	n := int(rec.NumRows())
	h := growWords(dst, n)
	for i := range h {
		h[i] = checkSeed
	}
	words := make([]uint64, n)
	for j, col := range rec.Columns() {
		if err := valueWords(col, words); err != nil {
			return dst, fmt.Errorf("checksum of column %q: %w", rec.ColumnName(j), err)
		}
		salt := columnSalt(j, rec.Schema().Field(j))
		for i, w := range words {
			h[i] = mix64(h[i] ^ salt ^ w)
		}
	}
	return h, nil
}

func growWords(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

// valueWords writes the word of each value of arr to out (len arr.Len()).
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
			out[i] = uint64(v.Uint16())
		}
	case *array.Float32:
		for i, v := range a.Values() {
			out[i] = uint64(math.Float32bits(v))
		}
	case *array.Float64:
		for i, v := range a.Values() {
			out[i] = math.Float64bits(v)
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
	case array.ListLike:
		child := a.ListValues()
		words := make([]uint64, child.Len())
		if err := valueWords(child, words); err != nil {
			return err
		}
		for i := range out {
			start, end := a.ValueOffsets(i)
			w := mix64(uint64(end-start) ^ 0x452821E638D01377)
			for _, c := range words[start:end] {
				w = mix64(w ^ c)
			}
			out[i] = w
		}
	case *array.Struct:
		for i := range out {
			out[i] = 0x082EFA98EC4E6C89
		}
		words := make([]uint64, len(out))
		for f := range a.NumField() {
			if err := valueWords(a.Field(f), words); err != nil {
				return err
			}
			for i, w := range words {
				out[i] = mix64(out[i] ^ w ^ uint64(f+1))
			}
		}
	case array.ExtensionArray:
		return valueWords(a.Storage(), out)
	default:
		for i := range out {
			out[i] = xxh3.HashString(arr.ValueStr(i))
		}
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
