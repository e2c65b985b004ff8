package partd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"testing"
)

// fuzzRecord is a record to seed the fuzzers with: its kind and items.
type fuzzRecord struct {
	kind  byte
	items []logItem
}

func fuzzItem(key, value string) logItem {
	it := logItem{key: key, size: int64(len(value))}
	if value != "" {
		it.pieces = [][]byte{[]byte(value)}
	}
	return it
}

// encodeFuzzRecord returns the bytes of r as a Log writes them.
func encodeFuzzRecord(tb testing.TB, r fuzzRecord) []byte {
	tb.Helper()
	head, length, err := encodeRecordHead(nil, r.kind, r.items)
	if err != nil {
		tb.Fatal(err)
	}
	b := head
	for _, it := range r.items {
		for _, p := range it.pieces {
			b = append(b, p...)
		}
	}
	if int64(len(b)) != length {
		tb.Fatalf("encodeRecordHead said %d bytes, the record has %d", length, len(b))
	}
	return b
}

// fixRecordChecksums rewrites the checksum of every record of data whose
// claimed length fits in data, so the fuzzer gets past the checksum to the
// key table and the values. It stops at the first record that does not fit.
func fixRecordChecksums(data []byte) []byte {
	data = bytes.Clone(data)
	for pos := 0; len(data)-pos >= recHeaderLen; {
		end := int64(pos) + recHeaderLen + int64(binary.LittleEndian.Uint32(data[pos+4:]))
		if end > int64(len(data)) {
			break
		}
		binary.LittleEndian.PutUint32(data[pos:], crc32.Checksum(data[pos+4:end], castagnoli))
		pos = int(end)
	}
	return data
}

// seedRecords are records of every kind, as a Log writes them.
func seedRecords(tb testing.TB) [][]byte {
	recs := []fuzzRecord{
		{recAppend, []logItem{fuzzItem("a", "first"), fuzzItem("b/c", "x"), fuzzItem("df/col", "0123456789")}},
		{recAppend, []logItem{fuzzItem("a", "-second")}},
		{recSet, []logItem{fuzzItem("b/c", "replaced")}},
		{recDelete, []logItem{fuzzItem("a", ""), fuzzItem("df/col", "")}},
		{recDrop, nil},
		{recBase, []logItem{fuzzItem("k", "base bytes"), fuzzItem("é/ü", "\x00\xff")}},
		{recAppend, []logItem{fuzzItem(string(bytes.Repeat([]byte("k"), 200)), string(bytes.Repeat([]byte("v"), 300)))}},
	}
	var out [][]byte
	for _, r := range recs {
		out = append(out, encodeFuzzRecord(tb, r))
	}
	return out
}

// FuzzLogRecord feeds arbitrary bytes to the record reader as a segment.
// It never panics or hangs; it ends with io.EOF exactly at the end of the
// bytes or with an error wrapping errTorn; positions only grow and stay
// within the bytes; every value lies inside its record; and a record read
// back is the record encodeRecordHead writes for what was read.
func FuzzLogRecord(f *testing.F) {
	recs := seedRecords(f)
	var all []byte
	for _, r := range recs {
		all = append(all, r...)
		f.Add(r, false)
	}
	f.Add(all, false)
	f.Add([]byte{}, false)
	f.Add(make([]byte, recHeaderLen), true)
	// A set of "k" with its key count written in two bytes (0x81 0x00).
	redundant := []byte("\x00\x00\x00\x00\x06\x00\x00\x00\x02\x81\x00\x01k\x01v")
	f.Add(redundant, true)
	f.Add(append(slices.Clone(all), redundant...), true)
	for _, cut := range []int{1, recHeaderLen - 1, recHeaderLen, recHeaderLen + 1, len(recs[0]) - 1, len(recs[0]) + 3, len(all) - 1} {
		f.Add(all[:cut], false)
	}
	for _, bit := range []int{0, 4 * 8, 8 * 8, 9 * 8, 10*8 + 3, 12 * 8, len(recs[0])*8 - 1, len(recs[0])*8 + 9*8 + 1} {
		b := bytes.Clone(all)
		b[bit/8] ^= 1 << (bit % 8)
		f.Add(b, false)
		f.Add(b, true) // the same damage behind a good checksum
	}
	f.Fuzz(func(t *testing.T, data []byte, fixChecksums bool) {
		if fixChecksums {
			data = fixRecordChecksums(data)
		}
		// newRecordReader's reader with small buffers: values cross many
		// reads, and a run costs little, so the fuzzer (and its minimizer)
		// runs many more. TestLogRecordRoundTrip and FuzzLogOpen read
		// through newRecordReader's own buffers.
		checkRecordStream(t, data, &recordReader{r: bufio.NewReaderSize(bytes.NewReader(data), 16), discard: make([]byte, 5)})
	})
}

// checkRecordStream reads every record of data through rr, checking each.
func checkRecordStream(t *testing.T, data []byte, rr *recordReader) {
	// Each record takes at least a header and a byte: more records than
	// that is a loop that does not advance.
	for n := 0; ; n++ {
		if n > len(data)/(recHeaderLen+1) {
			t.Fatalf("%d records from %d bytes", n, len(data))
		}
		start := rr.pos
		kind, entries, size, err := rr.next()
		if err == io.EOF {
			if rr.pos != int64(len(data)) {
				t.Fatalf("io.EOF at %d of %d bytes", rr.pos, len(data))
			}
			return
		}
		if err != nil {
			if !errors.Is(err, errTorn) {
				t.Fatalf("record at %d: %v, want an error wrapping errTorn", start, err)
			}
			if rr.pos != start {
				t.Fatalf("a torn record moved the position from %d to %d", start, rr.pos)
			}
			return
		}
		end := start + size
		if size <= recHeaderLen || rr.pos != end || end > int64(len(data)) {
			t.Fatalf("record at %d of %d bytes: size %d, position now %d", start, len(data), size, rr.pos)
		}
		if kind < recAppend || kind > recBase {
			t.Fatalf("record at %d: kind %d", start, kind)
		}
		// The values follow the key table, in its order, and end the record.
		items := make([]logItem, len(entries))
		off := end
		for i := len(entries) - 1; i >= 0; i-- {
			e := entries[i]
			if e.len < 0 || e.off < start+recHeaderLen || e.off+e.len > end || e.off+e.len != off {
				t.Fatalf("record [%d, %d): entry %d at %d+%d", start, end, i, e.off, e.len)
			}
			off = e.off
			items[i] = logItem{key: e.key, pieces: [][]byte{data[e.off : e.off+e.len]}, size: e.len}
		}
		// Round trip: the record a Log would write for what was read.
		head, length, err := encodeRecordHead(nil, kind, items)
		if err != nil {
			t.Fatalf("record at %d: re-encoding: %v", start, err)
		}
		again := append(head, data[off:end]...)
		if int64(len(again)) != length {
			t.Fatalf("record at %d: encodeRecordHead said %d bytes, wrote %d", start, length, len(again))
		}
		if !bytes.Equal(again, data[start:end]) {
			// The reader takes uvarints with redundant bytes (0x81 0x00 for
			// 1), which no Log writes: then the record re-encodes shorter,
			// and reads back the same.
			rkind, rentries, rsize, err := newRecordReader(bytes.NewReader(again)).next()
			if err != nil || int64(len(again)) >= size || rkind != kind || rsize != int64(len(again)) || len(rentries) != len(entries) {
				t.Fatalf("record at %d: read back and re-encoded, it differs:\n read %x\nwrote %x", start, data[start:end], again)
			}
			for i, e := range rentries {
				if e.key != entries[i].key || e.len != entries[i].len || e.off-int64(len(head)) != entries[i].off-off {
					t.Fatalf("record at %d: entry %d re-encoded as %+v, read as %+v", start, i, e, entries[i])
				}
			}
		}
	}
}

// TestLogRecordRoundTrip: every seed record, and all of them in a row,
// read back whole.
func TestLogRecordRoundTrip(t *testing.T) {
	recs := seedRecords(t)
	var all []byte
	for _, r := range recs {
		all = append(all, r...)
	}
	rr := newRecordReader(bytes.NewReader(all))
	for i, r := range recs {
		_, _, size, err := rr.next()
		if err != nil || size != int64(len(r)) {
			t.Fatalf("record %d: %d bytes, %v; want %d", i, size, err, len(r))
		}
	}
	if _, _, _, err := rr.next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
	for _, r := range recs {
		checkRecordStream(t, r, newRecordReader(bytes.NewReader(r)))
	}
	checkRecordStream(t, all, newRecordReader(bytes.NewReader(all)))
}
