package compress

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopartd/partd"
	"github.com/klauspost/compress/zlib"
)

// Algorithm names a compression algorithm, for configuration such as the
// command line's --compress flag.
type Algorithm uint8

// The algorithms. None means no compression layer at all.
const (
	None Algorithm = iota
	ZstdAlgorithm
	SnappyAlgorithm
	ZLibAlgorithm
)

var algorithmNames = [...]string{None: "none", ZstdAlgorithm: "zstd", SnappyAlgorithm: "snappy", ZLibAlgorithm: "zlib"}

// String returns the algorithm's name: "none", "zstd", "snappy" or "zlib".
func (a Algorithm) String() string {
	if int(a) < len(algorithmNames) {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Setting is an algorithm and its level. Level 0 means the algorithm's
// default; otherwise it is a zstd level (1 to 22) or a zlib level (1 to 9).
// None and Snappy take no level.
type Setting struct {
	Algorithm Algorithm
	Level     int
}

// String returns the setting in the form Parse reads: "zstd", "zstd:19",
// "zlib:9", "snappy", "none".
func (s Setting) String() string {
	if s.Level == 0 {
		return s.Algorithm.String()
	}
	return s.Algorithm.String() + ":" + strconv.Itoa(s.Level)
}

// Parse reads a setting: an algorithm name ("none", "zstd", "snappy",
// "zlib"; case does not matter), optionally followed by a level, written
// "zstd:3" or "zstd3". Parse(s.String()) returns s for every valid s.
func Parse(text string) (Setting, error) {
	lower := strings.ToLower(strings.TrimSpace(text))
	for a, name := range algorithmNames {
		rest, ok := strings.CutPrefix(lower, name)
		if !ok {
			continue
		}
		s := Setting{Algorithm: Algorithm(a)}
		if rest != "" {
			digits := strings.TrimPrefix(rest, ":")
			level, err := strconv.Atoi(digits)
			if err != nil || digits == "" || digits[0] == '+' || digits[0] == '-' {
				return Setting{}, fmt.Errorf("partd: compress: setting %q: bad level %q", text, rest)
			}
			s.Level = level
		}
		if err := s.validate(); err != nil {
			return Setting{}, fmt.Errorf("partd: compress: setting %q: %w", text, err)
		}
		return s, nil
	}
	return Setting{}, fmt.Errorf("partd: compress: setting %q: unknown algorithm (want none, zstd, snappy or zlib)", text)
}

func (s Setting) validate() error {
	switch s.Algorithm {
	case None, SnappyAlgorithm:
		if s.Level != 0 {
			return fmt.Errorf("%s takes no level", s.Algorithm)
		}
	case ZstdAlgorithm:
		if _, err := zstdLevel(s.Level); err != nil {
			return err
		}
	case ZLibAlgorithm:
		if s.Level < 0 || s.Level > zlib.BestCompression {
			return fmt.Errorf("invalid zlib level %d: want 1 to 9, or 0 for the default", s.Level)
		}
	default:
		return fmt.Errorf("unknown algorithm %s", s.Algorithm)
	}
	return nil
}

// Wrap returns inner wrapped in the layer the setting names, with opts. None
// returns inner itself.
func (s Setting) Wrap(inner partd.Store, opts ...Option) (partd.Store, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("partd: compress: setting %s: %w", s, err)
	}
	switch s.Algorithm {
	case ZstdAlgorithm:
		return NewZstd(inner, append([]Option{WithLevel(s.Level)}, opts...)...)
	case SnappyAlgorithm:
		return NewSnappy(inner, opts...)
	case ZLibAlgorithm:
		level := s.Level
		if level == 0 {
			level = zlib.DefaultCompression
		}
		return NewZLib(inner, append([]Option{WithLevel(level)}, opts...)...)
	}
	if _, err := buildOptions(opts); err != nil {
		return nil, err
	}
	return inner, nil
}
