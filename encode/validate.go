package encode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkMsgpack walks one msgpack value that must fill data exactly, without
// allocating, and reports the first structural problem: a length running
// past the end, a reserved code, nesting deeper than maxDepth, trailing
// bytes. Once it passes, every length in data is backed by bytes that are
// really there, so a decoder's preallocation is bounded by len(data) rather
// than by a hostile header (a 4-byte header can claim 4 billion elements).
func checkMsgpack(data []byte) error {
	// stack holds, per open container, how many items it still expects.
	var stackBuf [32]uint64
	stack := append(stackBuf[:0], 1)
	off := 0
	for len(stack) > 0 {
		if stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack[len(stack)-1]--
		if off >= len(data) {
			return fmt.Errorf("msgpack: data ends at byte %d inside a value", off)
		}
		c := data[off]
		var skip, items uint64 // bytes to skip, items of a new container
		var container bool
		var err error
		if off, skip, items, container, err = msgpackHead(data, off+1, c); err != nil {
			return err
		}
		rest := uint64(len(data) - off)
		if skip > rest {
			return fmt.Errorf("msgpack: value at byte %d claims %d bytes, %d remain", off, skip, rest)
		}
		off += int(skip)
		if container && items > 0 {
			if items > rest {
				return fmt.Errorf("msgpack: container at byte %d claims %d items, %d bytes remain", off, items, rest)
			}
			if len(stack) >= maxDepth {
				return errTooDeep
			}
			stack = append(stack, items)
		}
	}
	if off != len(data) {
		return fmt.Errorf("msgpack: %d bytes after the value", len(data)-off)
	}
	return nil
}

// msgpackHead reads what follows the code c of a value, whose code was at
// data[off-1], up to the value's contents: it returns the offset of the
// contents, how many bytes of them to skip, and, for a container, how many
// items it holds.
func msgpackHead(data []byte, off int, c byte) (next int, skip, items uint64, container bool, err error) {
	// length reads the w-byte length at off and moves off past it.
	length := func(w int) (uint64, error) {
		n, err := readLen(data, off, w)
		off += w
		return n, err
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c <= 0x8f:
		items, container = 2*uint64(c&0x0f), true
	case c <= 0x9f:
		items, container = uint64(c&0x0f), true
	case c <= 0xbf:
		skip = uint64(c & 0x1f)
	case c == 0xc1:
		err = fmt.Errorf("msgpack: reserved code 0xc1 at byte %d", off-1)
	case c == 0xc4 || c == 0xd9: // bin8, str8
		skip, err = length(1)
	case c == 0xc5 || c == 0xda: // bin16, str16
		skip, err = length(2)
	case c == 0xc6 || c == 0xdb: // bin32, str32
		skip, err = length(4)
	case c >= 0xc7 && c <= 0xc9: // ext8/16/32: length, type, data
		skip, err = length(1 << (c - 0xc7))
		skip++
	case c == 0xca:
		skip = 4
	case c == 0xcb:
		skip = 8
	case c >= 0xcc && c <= 0xcf:
		skip = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		skip = 1 << (c - 0xd0)
	case c >= 0xd4 && c <= 0xd8: // fixext: type, then 1..16 bytes
		skip = 1 + 1<<(c-0xd4)
	case c == 0xdc || c == 0xdd: // array16/32
		items, err = length(2 << (c - 0xdc))
		container = true
	case c == 0xde || c == 0xdf: // map16/32
		items, err = length(2 << (c - 0xde))
		items, container = 2*items, true
	}
	return off, skip, items, container, err
}

var errShort = errors.New("msgpack: data ends inside a length")

// readLen reads a w-byte big-endian length at data[off:].
func readLen(data []byte, off, w int) (uint64, error) {
	if len(data)-off < w {
		return 0, errShort
	}
	switch w {
	case 1:
		return uint64(data[off]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(data[off:])), nil
	default:
		return uint64(binary.BigEndian.Uint32(data[off:])), nil
	}
}
