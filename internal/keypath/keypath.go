// Package keypath holds the key rules shared by every store and the lossless,
// reversible mapping from keys to relative file paths used by the File store.
//
// A key part made only of [A-Za-z0-9_.() -] (Python partd's set of file-name
// characters) that does not start with "." is its own file name, so Python
// partd reads such stores as they are and its stores read here. Every other
// part is written as "%" followed by the part with each ASCII byte outside
// that set replaced by %XX (upper-case hex); bytes of multi-byte UTF-8
// characters are kept as they are. Plain names never contain "%", so the two
// forms never collide, and no part maps to "", ".", "..", a name that starts
// with "." (such as the store's ".lock") or a name containing "/".
package keypath

import (
	"errors"
	"iter"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes.
const MaxKeyLen = 4096

// MaxNameLen is the longest file name a key part may map to (the common
// limit of Linux file systems).
const MaxNameLen = 255

// Validate reports what is wrong with key, or nil if it follows the rules.
func Validate(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > MaxKeyLen:
		return errors.New("key longer than 4096 bytes")
	case !utf8.ValidString(key):
		return errors.New("key is not valid UTF-8")
	}
	total := 0
	for part := range strings.SplitSeq(key, "/") {
		total += encodedLen(part) + 1
		switch {
		case part == "":
			return errors.New("empty key part")
		case part == "." || part == "..":
			return errors.New(`key part is "." or ".."`)
		case strings.IndexByte(part, 0) >= 0:
			return errors.New("key contains NUL")
		case encodedLen(part) > MaxNameLen:
			return errors.New("key part too long for a file name")
		}
	}
	if total > MaxKeyLen {
		return errors.New("key's file path longer than 4096 bytes")
	}
	return nil
}

// Parents yields the proper prefixes of key that end at a "/" boundary:
// "a/b/c" yields "a" and "a/b".
func Parents(key string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(key); i++ {
			if key[i] == '/' && !yield(key[:i]) {
				return
			}
		}
	}
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ' ' || c == '(' || c == ')'
}

// IsPlain reports whether part is its own file name.
func IsPlain(part string) bool {
	if part == "" || part[0] == '.' {
		return false
	}
	for i := 0; i < len(part); i++ {
		if !plainByte(part[i]) {
			return false
		}
	}
	return true
}

func encodedLen(part string) int {
	if IsPlain(part) {
		return len(part)
	}
	n := 1
	for i := 0; i < len(part); i++ {
		if c := part[i]; plainByte(c) || c >= 0x80 {
			n++
		} else {
			n += 3
		}
	}
	return n
}

const hexDigits = "0123456789ABCDEF"

// EncodePart maps one key part to its file name.
func EncodePart(part string) string {
	if IsPlain(part) {
		return part
	}
	var b strings.Builder
	b.Grow(encodedLen(part))
	b.WriteByte('%')
	for i := 0; i < len(part); i++ {
		c := part[i]
		if plainByte(c) || c >= 0x80 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// Encode maps a valid key to its path relative to the store's directory,
// with "/" separators.
func Encode(key string) string {
	if IsPlain(key) {
		return key
	}
	var b strings.Builder
	first := true
	for part := range strings.SplitSeq(key, "/") {
		if !first {
			b.WriteByte('/')
		}
		first = false
		b.WriteString(EncodePart(part))
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// DecodePart maps a file name back to its key part. It reports false for a
// name that no key part maps to (a hidden file, a temporary file, a file the
// user put in the directory with an unescaped name that is not plain).
func DecodePart(name string) (string, bool) {
	if IsPlain(name) {
		return name, true
	}
	if len(name) < 2 || name[0] != '%' {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 1; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '%':
			if i+2 >= len(name) {
				return "", false
			}
			hi, ok1 := unhex(name[i+1])
			lo, ok2 := unhex(name[i+2])
			v := hi<<4 | lo
			if !ok1 || !ok2 || plainByte(v) || v >= 0x80 {
				return "", false // not the canonical encoding
			}
			b.WriteByte(v)
			i += 2
		case plainByte(c) || c >= 0x80:
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	part := b.String()
	if IsPlain(part) || EncodePart(part) != name || Validate(part) != nil {
		return "", false
	}
	return part, true
}

// Decode maps a relative path with "/" separators back to its key.
func Decode(path string) (string, bool) {
	var b strings.Builder
	first := true
	for name := range strings.SplitSeq(path, "/") {
		part, ok := DecodePart(name)
		if !ok {
			return "", false
		}
		if !first {
			b.WriteByte('/')
		}
		first = false
		b.WriteString(part)
	}
	key := b.String()
	return key, Validate(key) == nil
}
