package arrowstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Message header types (Message.fbs, union MessageHeader).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
)

// maxMetadata is the largest message metadata (flatbuffer) a reader
// accepts. A schema of tens of thousands of columns with pandas metadata
// fits many times over.
const maxMetadata = 16 << 20

// maxFieldVisits bounds the fields of one schema, nested ones included.
const maxFieldVisits = 1 << 20

// errNoEOS is returned for bytes that end inside a stream: every value a
// Store appends is a whole stream, so a key never ends there.
var errNoEOS = errors.New("the bytes end before the stream's end-of-stream marker")

// streamMessages is an ipc.MessageReader over one stream inside a key's
// bytes (key, whose Bytes are data), starting at pos. It hands arrow-go
// the bytes in place: a message's metadata and body are slices of key
// (memory.SliceBuffer, which holds a reference to key), so the batches
// arrow-go builds from an uncompressed stream alias the key's bytes
// instead of copying them, and keep them alive. Every message is checked
// first (checkMessage) so that arrow-go never reads outside it. It stops
// after the end-of-stream marker, leaving pos at the next stream.
type streamMessages struct {
	refs  atomic.Int64
	key   *memory.Buffer
	data  []byte
	pos   int
	limit int64 // the most bytes a compressed batch may decode to
	plan  plan  // the layout of the stream's schema, once read
	msg   *ipc.Message
}

var _ ipc.MessageReader = (*streamMessages)(nil)

func newStreamMessages(key *memory.Buffer, pos int, limit int64) *streamMessages {
	m := &streamMessages{key: key, data: key.Bytes(), pos: pos, limit: limit}
	m.refs.Add(1)
	return m
}

// Retain adds a reference.
func (m *streamMessages) Retain() { m.refs.Add(1) }

// Release drops a reference, and the last message with the last one.
func (m *streamMessages) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// Message returns the next message, or io.EOF after the end-of-stream
// marker.
func (m *streamMessages) Message() (msg *ipc.Message, err error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("invalid message: %v", p)
		}
	}()
	meta, body, eos, err := nextMessage(m.data, &m.pos, m.limit, &m.plan)
	if err != nil {
		return nil, err
	}
	if eos {
		return nil, io.EOF
	}
	// The message is data[pos-len(meta)-len(body) : pos].
	metaBuf := memory.SliceBuffer(m.key, m.pos-len(body)-len(meta), len(meta))
	var bodyBuf *memory.Buffer
	if len(body) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(body)))%8 != 0 {
		// Arrow buffers are 8-byte aligned within a body; arrow-go reads
		// them as typed slices, which must be aligned in memory too.
		bodyBuf = memory.NewBufferBytes(append(make([]byte, 0, len(body)), body...))
	} else {
		bodyBuf = memory.SliceBuffer(m.key, m.pos-len(body), len(body))
	}
	m.msg = ipc.NewMessage(metaBuf, bodyBuf) // the message holds them now
	metaBuf.Release()
	bodyBuf.Release()
	return m.msg, nil
}

// nextMessage reads the message at *pos in data, checks it and moves *pos
// past it. It reports the end-of-stream marker as eos.
func nextMessage(data []byte, pos *int, limit int64, p *plan) (meta, body []byte, eos bool, err error) {
	at := *pos
	rest := data[at:]
	if len(rest) == 0 {
		return nil, nil, false, errNoEOS
	}
	if len(rest) < 4 {
		return nil, nil, false, fmt.Errorf("at byte %d: %w", at, errNoEOS)
	}
	hdr, metaLen := 4, int64(binary.LittleEndian.Uint32(rest))
	switch metaLen {
	case 0: // the end-of-stream marker of streams older than Arrow 0.15
		*pos += 4
		return nil, nil, true, nil
	case 0xFFFFFFFF: // the continuation marker, then the length
		if len(rest) < 8 {
			return nil, nil, false, fmt.Errorf("at byte %d: %w", at, errNoEOS)
		}
		hdr, metaLen = 8, int64(int32(binary.LittleEndian.Uint32(rest[4:])))
		if metaLen == 0 {
			*pos += 8
			return nil, nil, true, nil
		}
	default:
		metaLen = int64(int32(metaLen)) // no continuation marker (before Arrow 0.15)
	}
	if metaLen < 8 || metaLen > maxMetadata {
		return nil, nil, false, fmt.Errorf("at byte %d: message metadata of %d bytes", at, metaLen)
	}
	if metaLen > int64(len(rest)-hdr) {
		return nil, nil, false, fmt.Errorf("at byte %d: message metadata of %d bytes runs past the end (%w)", at, metaLen, errNoEOS)
	}
	meta = rest[hdr : hdr+int(metaLen)]
	msg, err := fbRoot(meta)
	if err != nil {
		return nil, nil, false, fmt.Errorf("at byte %d: message: %w", at, err)
	}
	bodyLen, err := msg.i64(3, 0)
	if err != nil {
		return nil, nil, false, fmt.Errorf("at byte %d: message: %w", at, err)
	}
	left := int64(len(rest) - hdr - int(metaLen))
	if bodyLen < 0 || bodyLen > left {
		return nil, nil, false, fmt.Errorf("at byte %d: message body of %d bytes, %d left (%w)", at, bodyLen, left, errNoEOS)
	}
	body = rest[hdr+int(metaLen) : hdr+int(metaLen)+int(bodyLen)]
	if err := checkMessage(msg, body, limit, p); err != nil {
		return nil, nil, false, fmt.Errorf("at byte %d: %w", at, err)
	}
	*pos += hdr + int(metaLen) + int(bodyLen)
	return meta, body, false, nil
}

// checkMessage checks a message's flatbuffer and, for batches, that its
// buffers lie inside body and that it has every node, buffer and variadic
// count arrow-go will read for the schema (p, which a schema message sets):
// arrow-go reads them by index without checking the index against the
// length of their vectors.
func checkMessage(msg fbTable, body []byte, limit int64, p *plan) error {
	w := walk{visits: maxFieldVisits, bytes: 2*len(msg.b) + 4096}
	if err := w.keyValues(msg, 4); err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	version, err := msg.i16(0, 0)
	if err != nil {
		return err
	}
	typ, err := msg.u8(1, 0)
	if err != nil {
		return err
	}
	hdr, ok, err := msg.table(2)
	if err != nil || !ok {
		return fmt.Errorf("message without a header: %w", errFlatbuf)
	}
	switch typ {
	case headerSchema:
		w.dicts = make(map[int64]*layout)
		fields, err := w.schema(hdr)
		if err != nil {
			return err
		}
		*p = plan{fields: fields, dicts: w.dicts, ok: true}
		return nil
	case headerRecordBatch:
		if !p.ok {
			return nil // arrow-go refuses a batch before the schema
		}
		return checkBatch(hdr, body, limit, p.fields, int(version))
	case headerDictionaryBatch:
		data, ok, err := hdr.table(1)
		if err != nil || !ok {
			return fmt.Errorf("dictionary batch without data: %w", errFlatbuf)
		}
		id, err := hdr.i64(0, 0)
		if err != nil {
			return err
		}
		value, ok := p.dicts[id]
		if !ok {
			return nil // arrow-go refuses a dictionary it has no type for
		}
		// arrow-go reads dictionary batches as metadata version V1.
		return checkBatch(data, body, limit, []*layout{value}, 0)
	}
	return fmt.Errorf("message of type %d, not a schema, dictionary or record batch", typ)
}

// plan is what checkMessage keeps of a stream's schema: the layout of its
// fields and of its dictionaries' values, by dictionary id.
type plan struct {
	fields []*layout
	dicts  map[int64]*layout
	ok     bool
}

// layout is the part of a field's type that decides which nodes and
// buffers arrow-go's loader reads for it.
type layout struct {
	typ      byte // the Type union member
	dense    bool // a dense union
	dict     bool // dictionary encoded: a batch holds its indexes only
	children []*layout
}

// Type union members (Schema.fbs) with a layout of their own.
const (
	typeNull          = 1
	typeBinary        = 4
	typeUtf8          = 5
	typeTimestamp     = 10
	typeList          = 12
	typeStruct        = 13
	typeUnion         = 14
	typeFixedSizeList = 16
	typeMap           = 17
	typeLargeBinary   = 19
	typeLargeUtf8     = 20
	typeLargeList     = 21
	typeRunEndEncoded = 22
	typeBinaryView    = 23
	typeUtf8View      = 24
	typeListView      = 25
	typeLargeListView = 26
)

// metadataV5 is MetadataVersion V5: from it on, unions and run-end encoded
// arrays have no validity bitmap.
const metadataV5 = 4

// need counts the field nodes, buffers and variadic counts arrow-go's
// loader reads for an array of layout l (as ipc/file_reader.go's loadArray
// does), reading variadic counts from vc as the loader would.
type need struct {
	nodes, buffers, variadic int64
	version                  int
	vc                       func(i int64) (int64, bool)
}

func (n *need) add(l *layout, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("nested deeper than %d levels", maxNesting)
	}
	n.nodes++
	if l.dict {
		n.buffers += 2 // the indexes
		return nil
	}
	validity := int64(1)
	switch l.typ {
	case typeNull:
		return nil
	case typeUnion, typeRunEndEncoded:
		if n.version >= metadataV5 {
			validity = 0
		}
	}
	n.buffers += validity
	switch l.typ {
	case typeBinary, typeUtf8, typeLargeBinary, typeLargeUtf8:
		n.buffers += 2
	case typeBinaryView, typeUtf8View:
		c, ok := n.vc(n.variadic)
		if !ok {
			return fmt.Errorf("no variadic buffer count for view array %d", n.variadic)
		}
		n.variadic++
		n.buffers += 1 + c
	case typeList, typeLargeList, typeMap:
		n.buffers++
	case typeListView, typeLargeListView:
		n.buffers += 2
	case typeFixedSizeList, typeStruct, typeRunEndEncoded:
	case typeUnion:
		n.buffers++
		if l.dense {
			n.buffers++
		}
	default: // fixed width
		n.buffers++
	}
	for _, c := range l.children {
		if err := n.add(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// walk bounds the work of checking a schema: its fields (visits) and the
// bytes of its strings and vectors. A flatbuffer may refer to one field
// from many places, so walking it could take time exponential in its size;
// these budgets keep it linear.
type walk struct {
	visits int
	bytes  int
	dicts  map[int64]*layout // the value layouts of dictionary fields
}

func (w *walk) spend(n int) error {
	w.bytes -= n
	if w.bytes < 0 {
		return fmt.Errorf("schema refers to more bytes than it holds: %w", errFlatbuf)
	}
	return nil
}

// str checks the string (or vector of bytes) in field i of t.
func (w *walk) str(t fbTable, i int) error {
	_, n, err := t.vector(i, 1)
	if err != nil {
		return err
	}
	return w.spend(n)
}

// keyValues checks the custom metadata (a vector of KeyValue) in field i.
func (w *walk) keyValues(t fbTable, i int) error {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return err
	}
	if err := w.spend(4 * n); err != nil {
		return err
	}
	for j := range n {
		kv, err := t.tableAt(start, j)
		if err != nil {
			return err
		}
		if err := w.str(kv, 0); err != nil {
			return err
		}
		if err := w.str(kv, 1); err != nil {
			return err
		}
	}
	return nil
}

// schema checks a Schema table (fields, metadata, features) and returns
// the layout of its fields.
func (w *walk) schema(s fbTable) ([]*layout, error) {
	fields, err := w.fields(s, 1, 1)
	if err != nil {
		return nil, err
	}
	if err := w.keyValues(s, 2); err != nil {
		return nil, err
	}
	_, n, err := s.vector(3, 8)
	if err != nil {
		return nil, err
	}
	return fields, w.spend(8 * n)
}

// fields checks the vector of Field tables in field i of t.
func (w *walk) fields(t fbTable, i, depth int) ([]*layout, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	if err := w.spend(4 * n); err != nil {
		return nil, err
	}
	out := make([]*layout, n)
	for j := range n {
		f, err := t.tableAt(start, j)
		if err != nil {
			return nil, err
		}
		if out[j], err = w.field(f, depth); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// field checks a Field table (name, type, dictionary, children, metadata)
// and returns its layout.
func (w *walk) field(f fbTable, depth int) (*layout, error) {
	w.visits--
	if w.visits < 0 {
		return nil, fmt.Errorf("schema of more than %d fields: %w", maxFieldVisits, errFlatbuf)
	}
	if depth > maxNesting {
		return nil, fmt.Errorf("schema nested deeper than %d levels: %w", maxNesting, errFlatbuf)
	}
	if err := w.str(f, 0); err != nil {
		return nil, err
	}
	tt, err := f.u8(2, 0)
	if err != nil {
		return nil, err
	}
	l := &layout{typ: tt}
	typ, ok, err := f.table(3)
	if err != nil {
		return nil, err
	}
	if ok {
		switch tt {
		case typeTimestamp:
			err = w.str(typ, 1)
		case typeUnion:
			var mode int16
			if mode, err = typ.i16(0, 0); err == nil {
				l.dense = mode == 1
				var n int
				if _, n, err = typ.vector(1, 4); err == nil {
					err = w.spend(4 * n)
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if l.children, err = w.fields(f, 5, depth+1); err != nil {
		return nil, err
	}
	if dict, ok, err := f.table(4); err != nil {
		return nil, err
	} else if ok {
		if _, _, err := dict.table(1); err != nil {
			return nil, err
		}
		id, err := dict.i64(0, 0)
		if err != nil {
			return nil, err
		}
		value := *l
		w.dicts[id] = &value
		l = &layout{typ: tt, dict: true}
	}
	return l, w.keyValues(f, 6)
}

// Compression codecs (Message.fbs, enum CompressionType).
const (
	codecLZ4Frame = 0
	codecZstd     = 1
)

// checkBatch checks a RecordBatch table against its body and the layout of
// the arrays it holds: every node, buffer and variadic count the loader
// will read, lengths that arrow-go can hold, buffers inside the body and
// 8-byte aligned, and compressed buffers that declare at most limit
// decoded bytes in all.
func checkBatch(rb fbTable, body []byte, limit int64, fields []*layout, version int) error {
	rows, err := rb.i64(0, 0)
	if err != nil {
		return err
	}
	if rows < 0 || rows > math.MaxInt32 {
		return fmt.Errorf("batch of %d rows", rows)
	}
	start, n, err := rb.vector(1, 16)
	if err != nil {
		return err
	}
	for j := range n {
		p := start + 16*j
		length, _ := fbI64(rb.b, p)
		nulls, _ := fbI64(rb.b, p+8)
		if length < 0 || length > math.MaxInt32 || nulls < 0 || nulls > length {
			return fmt.Errorf("array %d of length %d with %d nulls", j, length, nulls)
		}
	}
	start, nbuf, err := rb.vector(2, 16)
	if err != nil {
		return err
	}
	comp, compressed, err := rb.table(3)
	if err != nil {
		return err
	}
	if compressed {
		codec, err := comp.u8(0, codecLZ4Frame)
		if err != nil {
			return err
		}
		method, err := comp.u8(1, 0)
		if err != nil {
			return err
		}
		if (codec != codecLZ4Frame && codec != codecZstd) || method != 0 {
			return fmt.Errorf("unknown body compression %d (method %d)", codec, method)
		}
	}
	var decoded int64
	for j := range nbuf {
		p := start + 16*j
		off, _ := fbI64(rb.b, p)
		length, _ := fbI64(rb.b, p+8)
		if off < 0 || length < 0 || off > int64(len(body)) || length > int64(len(body))-off {
			return fmt.Errorf("buffer %d at %d of %d bytes outside a body of %d", j, off, length, len(body))
		}
		if off%8 != 0 {
			return fmt.Errorf("buffer %d at %d is not 8-byte aligned", j, off)
		}
		if !compressed || length == 0 {
			continue
		}
		if length < 8 {
			return fmt.Errorf("compressed buffer %d of %d bytes", j, length)
		}
		size := int64(binary.LittleEndian.Uint64(body[off:]))
		if size == -1 {
			continue // stored uncompressed
		}
		if size < 0 || size > limit-decoded {
			return fmt.Errorf("compressed buffers decode to more than the limit of %d bytes", limit)
		}
		decoded += size
	}
	vstart, nv, err := rb.vector(4, 8)
	if err != nil {
		return err
	}
	nd := need{version: version, vc: func(i int64) (int64, bool) {
		if i >= int64(nv) {
			return 0, false
		}
		c, _ := fbI64(rb.b, vstart+8*int(i))
		return c, c >= 0 && c <= int64(nbuf)
	}}
	for _, f := range fields {
		if err := nd.add(f, 0); err != nil {
			return err
		}
	}
	if nd.nodes > int64(n) || nd.buffers > int64(nbuf) {
		return fmt.Errorf("batch of %d arrays and %d buffers, the schema needs %d and %d", n, nbuf, nd.nodes, nd.buffers)
	}
	return nil
}
