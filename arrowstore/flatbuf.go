package arrowstore

import (
	"encoding/binary"
	"errors"
)

// A small, bounds-checked reader of the flatbuffers of Arrow IPC messages.
// arrow-go parses them without checking (its panics are recovered, but a
// vector length read from corrupt bytes sizes an allocation first, and
// nested fields recurse without a limit), so the messages a Store reads
// are walked here before arrow-go sees them: every table, vector and
// string a reader will touch must lie inside the buffer, nesting is
// bounded and so is the work (see checkSchema).

var errFlatbuf = errors.New("malformed flatbuffer")

// fbTable is a flatbuffers table: its position in b and its vtable.
type fbTable struct {
	b      []byte
	pos    int // the table
	vt     int // its vtable
	vtLen  int // the vtable's size in bytes
	tabLen int // the table's inline size in bytes
}

func fbU16(b []byte, p int) (int, bool) {
	if p < 0 || p > len(b)-2 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint16(b[p:])), true
}

func fbU32(b []byte, p int) (uint32, bool) {
	if p < 0 || p > len(b)-4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[p:]), true
}

func fbI64(b []byte, p int) (int64, bool) {
	if p < 0 || p > len(b)-8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[p:])), true
}

// fbRoot returns the root table of b.
func fbRoot(b []byte) (fbTable, error) {
	off, ok := fbU32(b, 0)
	if !ok {
		return fbTable{}, errFlatbuf
	}
	return fbTableAt(b, int64(off))
}

// fbTableAt returns the table at pos.
func fbTableAt(b []byte, pos int64) (fbTable, error) {
	if pos < 0 || pos > int64(len(b))-4 {
		return fbTable{}, errFlatbuf
	}
	p := int(pos)
	soff, _ := fbU32(b, p)
	vt := int64(p) - int64(int32(soff))
	if vt < 0 || vt > int64(len(b))-4 {
		return fbTable{}, errFlatbuf
	}
	vtLen, _ := fbU16(b, int(vt))
	tabLen, _ := fbU16(b, int(vt)+2)
	if vtLen < 4 || vtLen%2 != 0 || int(vt)+vtLen > len(b) || tabLen < 4 || p+tabLen > len(b) {
		return fbTable{}, errFlatbuf
	}
	return fbTable{b: b, pos: p, vt: int(vt), vtLen: vtLen, tabLen: tabLen}, nil
}

// field returns the position of field i and true, or false if the table
// does not have it. A field must lie inside the table's inline size.
func (t fbTable) field(i, size int) (int, bool, error) {
	vo := 4 + 2*i
	if vo+2 > t.vtLen {
		return 0, false, nil
	}
	off, _ := fbU16(t.b, t.vt+vo)
	if off == 0 {
		return 0, false, nil
	}
	if off+size > t.tabLen {
		return 0, false, errFlatbuf
	}
	return t.pos + off, true, nil
}

// u8 returns field i as a byte, or def.
func (t fbTable) u8(i int, def byte) (byte, error) {
	p, ok, err := t.field(i, 1)
	if !ok || err != nil {
		return def, err
	}
	return t.b[p], nil
}

// i16 returns field i as an int16, or def.
func (t fbTable) i16(i int, def int16) (int16, error) {
	p, ok, err := t.field(i, 2)
	if !ok || err != nil {
		return def, err
	}
	v, _ := fbU16(t.b, p)
	return int16(v), nil
}

// i64 returns field i as an int64, or def.
func (t fbTable) i64(i int, def int64) (int64, error) {
	p, ok, err := t.field(i, 8)
	if !ok || err != nil {
		return def, err
	}
	v, _ := fbI64(t.b, p)
	return v, nil
}

// ref follows the offset in field i to what it refers to.
func (t fbTable) ref(i int) (int64, bool, error) {
	p, ok, err := t.field(i, 4)
	if !ok || err != nil {
		return 0, false, err
	}
	off, _ := fbU32(t.b, p)
	return int64(p) + int64(off), true, nil
}

// table returns the table field i refers to.
func (t fbTable) table(i int) (fbTable, bool, error) {
	pos, ok, err := t.ref(i)
	if !ok || err != nil {
		return fbTable{}, false, err
	}
	sub, err := fbTableAt(t.b, pos)
	return sub, err == nil, err
}

// vector returns the position of the first element of the vector field i
// refers to and its length, checked to fit in the buffer with elements of
// size bytes.
func (t fbTable) vector(i, size int) (start, n int, err error) {
	pos, ok, err := t.ref(i)
	if !ok || err != nil {
		return 0, 0, err
	}
	if pos > int64(len(t.b))-4 {
		return 0, 0, errFlatbuf
	}
	l, _ := fbU32(t.b, int(pos))
	start = int(pos) + 4
	if int64(l)*int64(size) > int64(len(t.b)-start) {
		return 0, 0, errFlatbuf
	}
	return start, int(l), nil
}

// tableAt returns the table that element j of a vector of tables (whose
// first element is at start) refers to.
func (t fbTable) tableAt(start, j int) (fbTable, error) {
	p := start + 4*j
	off, ok := fbU32(t.b, p)
	if !ok {
		return fbTable{}, errFlatbuf
	}
	return fbTableAt(t.b, int64(p)+int64(off))
}
