package partd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The Log's segment format. A segment is a sequence of records:
//
//	record  = crc32c u32 | length u32 | kind u8 | payload (length bytes)
//	payload = count uvarint | count × (keylen uvarint | key | valuelen uvarint) | values
//
// All integers are little-endian. The checksum (CRC-32C) covers length,
// kind and payload, so a record is whole or it is not: a record cut short by
// a crash, or with a flipped bit, ends the segment's valid prefix. The values
// follow the key table in the table's order, so the index points into the
// segment at each value's bytes.
//
// Kinds: an append batch (every key of one Append, appended), a set (one key,
// its bytes replaced), a delete (keys, no values), a drop (no keys: every
// record before it is dead), and a base record that compaction writes (keys
// whose bytes start in the segment it rewrites; replayed as a set).
const (
	recAppend byte = 1
	recSet    byte = 2
	recDelete byte = 3
	recDrop   byte = 4
	recBase   byte = 5

	recHeaderLen = 9
	// maxRecordLen bounds one record: offsets into a segment are uint32.
	maxRecordLen = 1<<32 - 1<<16
	// maxSegmentSize bounds LogOptions.SegmentSize and a segment's bytes,
	// for the same reason.
	maxSegmentSize = maxRecordLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logItem is one key of a record and its value, in pieces.
type logItem struct {
	key    string
	pieces [][]byte
	size   int64
	entry  *logKey // the key's index entry, once looked up
}

// encodeRecordHead returns the header and key table of a record of kind for
// items, whose values follow it in the segment, and the record's length.
// The checksum covers the values too.
func encodeRecordHead(dst []byte, kind byte, items []logItem) ([]byte, int64, error) {
	dst = append(dst[:0], make([]byte, recHeaderLen)...)
	dst = binary.AppendUvarint(dst, uint64(len(items)))
	var values int64
	for _, it := range items {
		dst = binary.AppendUvarint(dst, uint64(len(it.key)))
		dst = append(dst, it.key...)
		dst = binary.AppendUvarint(dst, uint64(it.size))
		values += it.size
	}
	length := int64(len(dst)-recHeaderLen) + values
	if length > maxRecordLen {
		return nil, 0, fmt.Errorf("a batch of %d bytes exceeds the log's record limit of %d", length, int64(maxRecordLen))
	}
	binary.LittleEndian.PutUint32(dst[4:], uint32(length))
	dst[8] = kind
	crc := crc32.Update(0, castagnoli, dst[4:])
	for _, it := range items {
		for _, p := range it.pieces {
			crc = crc32.Update(crc, castagnoli, p)
		}
	}
	binary.LittleEndian.PutUint32(dst[0:], crc)
	return dst, recHeaderLen + length, nil
}

// errTorn is returned by readRecord for bytes that are not a whole, valid
// record: the end of a segment's valid prefix.
var errTorn = errors.New("torn or corrupt record")

// recordEntry is one key of a record read back: its value's offset within
// the record and its length.
type recordEntry struct {
	key      string
	off, len int64
}

// recordReader reads the records of a segment in order, checking each.
type recordReader struct {
	r       *bufio.Reader
	pos     int64 // offset of the next record in the segment
	discard []byte
}

func newRecordReader(r io.Reader) *recordReader {
	return &recordReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// reset makes rr read r from its start, keeping its buffers.
func (rr *recordReader) reset(r io.Reader) {
	rr.r.Reset(r)
	rr.pos = 0
}

// resetAt makes rr read the records of r from off to end, keeping its
// buffers; positions are r's.
func (rr *recordReader) resetAt(r io.ReaderAt, off, end int64) {
	rr.r.Reset(io.NewSectionReader(r, off, end-off))
	rr.pos = off
}

// next reads the record at rr.pos: its kind and keys, with each value's
// offset in the segment. It returns io.EOF at a clean end, and an error
// wrapping errTorn for an incomplete or corrupt record (or an I/O error).
func (rr *recordReader) next() (kind byte, entries []recordEntry, size int64, err error) {
	want, length, kind, crc, err := rr.readHeader()
	if err != nil {
		return 0, nil, 0, err
	}
	entries, tableLen, values, err := rr.readTable(&crc, length)
	if err != nil {
		return 0, nil, 0, err
	}
	off := rr.pos + recHeaderLen + tableLen
	for i := range entries {
		entries[i].off = off
		off += entries[i].len
	}
	if err := rr.skimValues(&crc, values); err != nil {
		return 0, nil, 0, err
	}
	if crc != want {
		return 0, nil, 0, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	size = recHeaderLen + length
	rr.pos += size
	return kind, entries, size, nil
}

// readHeader reads a record's header: the checksum it claims, the length
// and kind of the record, and the checksum of the header's bytes after the
// claimed checksum.
func (rr *recordReader) readHeader() (want uint32, length int64, kind byte, crc uint32, err error) {
	var hdr [recHeaderLen]byte
	n, err := io.ReadFull(rr.r, hdr[:])
	switch {
	case err == io.EOF:
		return 0, 0, 0, 0, io.EOF
	case err == io.ErrUnexpectedEOF:
		return 0, 0, 0, 0, fmt.Errorf("%w: %d-byte header cut short", errTorn, n)
	case err != nil:
		return 0, 0, 0, 0, err
	}
	kind = hdr[8]
	if kind < recAppend || kind > recBase {
		return 0, 0, 0, 0, fmt.Errorf("%w: unknown kind %d", errTorn, kind)
	}
	want = binary.LittleEndian.Uint32(hdr[0:])
	length = int64(binary.LittleEndian.Uint32(hdr[4:]))
	return want, length, kind, crc32.Update(0, castagnoli, hdr[4:]), nil
}

// readTable reads the key table of a record of length bytes (read whole:
// it is small next to the values) through the checksum crc, and returns its
// entries (offsets not set), its size and the size of the values after it,
// which together make the record's length.
func (rr *recordReader) readTable(crc *uint32, length int64) (entries []recordEntry, tableLen, values int64, err error) {
	count, tableLen, err := rr.readUvarint(crc, length)
	if err != nil {
		return nil, 0, 0, err
	}
	if count > uint64(length) {
		return nil, 0, 0, fmt.Errorf("%w: %d keys in %d bytes", errTorn, count, length)
	}
	// Not make(…, count): a corrupt count would allocate gigabytes before
	// the bytes behind it are read. Each entry read grows the slice.
	entries = make([]recordEntry, 0, min(count, 64))
	for range count {
		klen, m, err := rr.readUvarint(crc, length-tableLen)
		if err != nil {
			return nil, 0, 0, err
		}
		tableLen += m
		if klen > MaxKeyLen || int64(klen) > length-tableLen {
			return nil, 0, 0, fmt.Errorf("%w: key of %d bytes", errTorn, klen)
		}
		key := make([]byte, klen)
		if _, err := io.ReadFull(rr.r, key); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: key cut short", errTorn)
		}
		*crc = crc32.Update(*crc, castagnoli, key)
		tableLen += int64(klen)
		vlen, m, err := rr.readUvarint(crc, length-tableLen)
		if err != nil {
			return nil, 0, 0, err
		}
		tableLen += m
		if vlen > uint64(length) {
			return nil, 0, 0, fmt.Errorf("%w: value of %d bytes in a %d-byte record", errTorn, vlen, length)
		}
		entries = append(entries, recordEntry{key: string(key), len: int64(vlen)})
		values += int64(vlen)
	}
	if tableLen+values != length {
		return nil, 0, 0, fmt.Errorf("%w: table and values of %d bytes in a %d-byte record", errTorn, tableLen+values, length)
	}
	return entries, tableLen, values, nil
}

// skimValues reads n bytes of values through the checksum crc, without
// keeping them.
func (rr *recordReader) skimValues(crc *uint32, n int64) error {
	if rr.discard == nil {
		rr.discard = make([]byte, 1<<20)
	}
	for left := n; left > 0; {
		m, err := io.ReadFull(rr.r, rr.discard[:min(left, int64(len(rr.discard)))])
		*crc = crc32.Update(*crc, castagnoli, rr.discard[:m])
		left -= int64(m)
		if err != nil {
			return fmt.Errorf("%w: values cut short", errTorn)
		}
	}
	return nil
}

// readUvarint reads a uvarint of the key table through the checksum; limit
// is how many bytes of the record are left.
func (rr *recordReader) readUvarint(crc *uint32, limit int64) (uint64, int64, error) {
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		if int64(i) >= limit {
			return 0, 0, fmt.Errorf("%w: key table runs past the record", errTorn)
		}
		b, err := rr.r.ReadByte()
		if err != nil {
			return 0, 0, fmt.Errorf("%w: key table cut short", errTorn)
		}
		buf[i] = b
		if b < 0x80 {
			v, n := binary.Uvarint(buf[:i+1])
			if n <= 0 {
				return 0, 0, fmt.Errorf("%w: bad varint", errTorn)
			}
			*crc = crc32.Update(*crc, castagnoli, buf[:i+1])
			return v, int64(i + 1), nil
		}
	}
	return 0, 0, fmt.Errorf("%w: varint too long", errTorn)
}
