package arrowstore

import (
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// decoder reads the batches of one key's bytes, stream after stream.
type decoder struct {
	s      *Store
	key    string
	raw    keyBytes // the key's bytes; the decoder holds a reference until close
	data   []byte   // raw's bytes
	pos    int      // where the current stream (or the next) starts
	stream int      // the current stream's index
	msgs   *streamMessages
	rd     *ipc.Reader
	schema *arrow.Schema // the key's schema: the first stream's, or the one expected
	mem    *tracker
}

func (s *Store) newDecoder(key string, raw keyBytes, expect *arrow.Schema) *decoder {
	return &decoder{s: s, key: key, raw: raw, data: raw.buf.Bytes(), schema: expect, stream: -1, mem: newTracker(s.opts.mem)}
}

// fail wraps err with the key, the stream and where it starts.
func (d *decoder) fail(err error) error {
	return fmt.Errorf("arrowstore: key %q, stream %d at byte %d: %w", d.key, d.stream, d.pos, corrupt(err))
}

// next returns the key's next batch, which the caller releases, or nil at
// the end of the key's bytes. After an error, the decoder is closed.
func (d *decoder) next() (arrow.RecordBatch, error) {
	epoch := d.mem.begin()
	rec, err := d.read()
	if err != nil {
		if d.raw.free != nil {
			d.raw.free.failed.Store(true)
		}
		d.close()
		d.mem.freeSince(epoch)
	}
	return rec, err
}

func (d *decoder) read() (arrow.RecordBatch, error) {
	for {
		if d.rd == nil {
			if d.pos >= len(d.data) {
				return nil, nil
			}
			d.stream++
			d.msgs = newStreamMessages(d.raw.buf, d.pos, d.s.opts.decodeLimit)
			rd, err := ipc.NewReaderFromMessageReader(d.msgs, ipc.WithAllocator(d.mem))
			if err != nil {
				d.msgs = nil // the failed reader released it
				return nil, d.fail(err)
			}
			d.rd = rd
			sc := rd.Schema()
			if d.schema == nil {
				d.schema = sc
			} else if !sc.Equal(d.schema) {
				return nil, fmt.Errorf("arrowstore: key %q, stream %d at byte %d: %w: the stream has %s, the key %s%s",
					d.key, d.stream, d.pos, ErrSchema, formatSchema(sc), formatSchema(d.schema), schemaDiff(d.schema, sc))
			}
		}
		if d.rd.Next() {
			rec := d.rd.RecordBatch()
			if err := validateRecord(rec); err != nil {
				return nil, d.fail(err)
			}
			rec.Retain()
			return rec, nil
		}
		if err := d.rd.Err(); err != nil {
			return nil, d.fail(err)
		}
		d.pos = d.msgs.pos
		d.rd.Release() // releases msgs too
		d.rd, d.msgs = nil, nil
	}
}

// close releases the stream being read and the decoder's reference to
// the key's bytes. It may be called more than once.
func (d *decoder) close() {
	if d.rd != nil {
		d.rd.Release()
		d.rd, d.msgs = nil, nil
	}
	if d.raw.buf != nil {
		d.raw.buf.Release()
		d.raw.buf = nil
	}
}

// Reader is an [array.RecordReader] over the batches of some keys: each
// key's batches in append order, key after key in the order given. All
// keys must hold one schema; a key of another is an error wrapping
// [ErrSchema] (see Err).
//
// It reads one key at a time, with one Get of the inner store (or
// GetAppend, into a pooled buffer: see the package documentation), when
// it reaches the key, and decodes one batch at a time: it holds the bytes
// of one key and the batch it returned last (whose buffers, for an
// uncompressed stream, are those bytes). A batch is valid until the next
// call of Next, unless retained. A Reader is not safe for concurrent use,
// except Retain and Release.
type Reader struct {
	refs   atomic.Int64
	s      *Store
	keys   []string
	nextK  int // the next key to read
	dec    *decoder
	schema *arrow.Schema
	rec    arrow.RecordBatch
	err    error
	// started is set by the first Next, which hands out the batch the
	// constructor read to learn the schema, if it read one.
	started bool
}

var _ array.RecordReader = (*Reader)(nil)

// Reader returns a reader of the batches of keys, which the caller
// releases. To know the schema, it reads keys until one holds a batch,
// and returns an error if one of those cannot be read; an error on a later
// key ends the iteration (see [Reader.Err]). If no key holds any batch, the
// schema is the Store's ([WithSchema]), or one without columns.
//
// On corrupt bytes arrow-go's IPC reader can leak what it allocated for
// the failed batch; the Store frees it, except that memory a batch already
// handed out may share (a dictionary) stays allocated after a Reader fails
// on a compressed or dictionary-encoded stream. (Get frees everything, as
// it hands out nothing on failure.) The Go allocator's memory is reclaimed
// by the garbage collector regardless.
func (s *Store) Reader(keys ...string) (*Reader, error) {
	if s.closed.Load() {
		return nil, s.errClosed("reader")
	}
	r := &Reader{s: s, keys: keys, schema: s.opts.schema}
	r.refs.Add(1)
	if r.schema == nil {
		// Open keys until one has a schema: it is the reader's.
		for r.nextK < len(keys) {
			if err := r.open(); err != nil {
				r.Release()
				return nil, err
			}
			rec, err := r.dec.next()
			if err != nil {
				r.Release()
				return nil, err
			}
			if rec != nil {
				r.schema = r.dec.schema
				r.rec = rec // handed out by the first Next
				break
			}
			r.dec.close()
			r.dec = nil
		}
		if r.schema == nil {
			r.schema = arrow.NewSchema(nil, nil)
		}
	}
	return r, nil
}

// open reads the next key and starts decoding it.
func (r *Reader) open() error {
	k := r.keys[r.nextK]
	r.nextK++
	raw, err := r.s.fetch([]string{k})
	if err != nil {
		return err
	}
	r.dec = r.s.newDecoder(k, raw[0], r.schema)
	return nil
}

// Retain adds a reference to the reader.
func (r *Reader) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one releases the current batch and
// what the reader holds.
func (r *Reader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.dec != nil {
		r.dec.close()
		r.dec = nil
	}
}

// Schema returns the schema of every batch of the reader.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next moves to the next batch and reports whether there is one. The
// previous batch is released: a caller that keeps a batch past the next
// call of Next retains it.
func (r *Reader) Next() bool {
	if !r.started {
		r.started = true
		if r.rec != nil {
			return true
		}
	}
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.err != nil {
		return false
	}
	for {
		if r.dec == nil {
			if r.nextK >= len(r.keys) {
				return false
			}
			if r.err = r.open(); r.err != nil {
				return false
			}
		}
		rec, err := r.dec.next()
		if err != nil {
			r.err = err
			r.dec.close()
			r.dec = nil
			return false
		}
		if rec != nil {
			r.rec = rec
			return true
		}
		r.dec.close()
		r.dec = nil
	}
}

// RecordBatch returns the current batch, valid until the next call of Next
// or Release, or nil before the first Next and after the last.
func (r *Reader) RecordBatch() arrow.RecordBatch {
	if !r.started {
		return nil
	}
	return r.rec
}

// Record returns the current batch.
//
// Deprecated: Use [Reader.RecordBatch], as arrow-go does.
func (r *Reader) Record() arrow.RecordBatch { return r.RecordBatch() }

// Err returns the error that ended the iteration, or nil if it reached the
// end.
func (r *Reader) Err() error { return r.err }
