package compress_test

import (
	"bytes"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

func TestParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want compress.Setting
		str  string
	}{
		{"none", compress.Setting{}, "none"},
		{"zstd", compress.Setting{Algorithm: compress.ZstdAlgorithm}, "zstd"},
		{"zstd:3", compress.Setting{Algorithm: compress.ZstdAlgorithm, Level: 3}, "zstd:3"},
		{"zstd19", compress.Setting{Algorithm: compress.ZstdAlgorithm, Level: 19}, "zstd:19"},
		{"ZSTD:1", compress.Setting{Algorithm: compress.ZstdAlgorithm, Level: 1}, "zstd:1"},
		{"snappy", compress.Setting{Algorithm: compress.SnappyAlgorithm}, "snappy"},
		{"zlib", compress.Setting{Algorithm: compress.ZLibAlgorithm}, "zlib"},
		{"zlib:9", compress.Setting{Algorithm: compress.ZLibAlgorithm, Level: 9}, "zlib:9"},
		{"zlib:0", compress.Setting{Algorithm: compress.ZLibAlgorithm}, "zlib"},
	} {
		got, err := compress.Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if got != tc.want || got.String() != tc.str {
			t.Fatalf("Parse(%q) = %#v (%s), want %#v (%s)", tc.in, got, got, tc.want, tc.str)
		}
		again, err := compress.Parse(got.String())
		if err != nil || again != got {
			t.Fatalf("Parse(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
		inner := partd.NewDict()
		s, err := got.Wrap(inner)
		check(t, err)
		v := bytes.Repeat([]byte("abc"), 100)
		check(t, s.Append(map[string][]byte{"k": v}))
		if !bytes.Equal(get1(t, s, "k"), v) {
			t.Fatalf("%s: round trip failed", got)
		}
		if raw := get1(t, inner, "k"); (got.Algorithm == compress.None) != bytes.Equal(raw, v) {
			t.Fatalf("%s: stored bytes equal the value: %v", got, bytes.Equal(raw, v))
		}
	}
	for _, bad := range []string{"", "lz4", "zstd:", "zstd:23", "zstd:-1", "zstd:+3", "zstd:x", "snappy:1",
		"none:2", "zlib:10", "zlib:-1", "zstdd", "nonesuch"} {
		if s, err := compress.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, s)
		}
	}
	if _, err := (compress.Setting{Algorithm: 9}).Wrap(partd.NewDict()); err == nil {
		t.Error("Wrap with an unknown algorithm: no error")
	}
	if _, err := (compress.Setting{Algorithm: compress.SnappyAlgorithm, Level: 2}).Wrap(partd.NewDict()); err == nil {
		t.Error("Wrap of snappy with a level: no error")
	}
	if got := compress.Algorithm(9).String(); got != "Algorithm(9)" {
		t.Errorf("Algorithm(9).String() = %q", got)
	}
}
