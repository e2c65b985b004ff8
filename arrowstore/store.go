package arrowstore

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
)

// ErrSchema is returned, wrapped with context that names the key and both
// schemas, when batches do not match the schema a key holds (or the
// Store's own, see [WithSchema]), or the batches of one call differ from
// each other.
var ErrSchema = errors.New("arrowstore: schema differs")

// Store keeps Arrow record batches by key in an inner [partd.Store]: each
// appended value is one complete Arrow IPC stream. Build it with [New].
// A Store is safe for concurrent use by many goroutines.
type Store struct {
	inner  partd.Store
	opts   options
	closed atomic.Bool

	// mu guards known and gen. known maps keys to the schema they hold,
	// as far as this Store has seen: Append fills it, and claims a new
	// key's schema in it before writing, so that two Appends of different
	// schemas to a new key cannot both pass. Set, Delete, Pop and Drop
	// forget keys and bump gen, so a lookup in the inner store that
	// raced them does not fill the map with what it saw before.
	mu    sync.Mutex
	known map[string]*arrow.Schema
	gen   uint64
}

// New returns a Store that keeps record batches in inner. The Store owns
// inner: its Close closes inner. It returns an error for an option that
// cannot apply.
func New(inner partd.Store, opts ...Option) (*Store, error) {
	if inner == nil {
		return nil, errors.New("arrowstore: New: nil inner store")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Store{inner: inner, opts: o, known: make(map[string]*arrow.Schema)}, nil
}

// Inner returns the store s wraps.
func (s *Store) Inner() partd.Store { return s.inner }

func (s *Store) errClosed(op string) error {
	return fmt.Errorf("arrowstore: %s: %w", op, partd.ErrClosed)
}

// Append adds each key's batches to the end of what the key holds, as one
// IPC stream per key: the schema, the batches in order, the end-of-stream
// marker.
//
// Everything is checked before anything is written: the keys (partd's key
// rules, [partd.ErrInvalidKey]); the batches of each key, which must share
// one schema; and that schema against the one the key already holds
// ([ErrSchema], naming the key and both schemas). The streams of all keys
// then go to the inner store in one Append, so the call is atomic where the
// inner store's Append is.
//
// Batches without rows are not written, and a key given none with rows
// is left as it is (their schema is still checked): a key that holds no
// bytes does not exist. Append does not retain the batches; the caller
// still owns (and releases) them.
//
// To know what schema a key holds, Append asks the inner store the first
// time it meets the key: the key's size, where the store tells it
// ([partd.KeySizer]), and then the key's first schema message, which a
// [partd.ChunkViewer] shows in place and any other store reads with a Get
// of the whole key, once. [WithSchema] skips the lookup.
func (s *Store) Append(data map[string][]arrow.RecordBatch) error {
	if s.closed.Load() {
		return s.errClosed("append")
	}
	if err := partd.ValidateBatch(data); err != nil {
		return err
	}
	schemas := make(map[string]*arrow.Schema, len(data))
	for k, recs := range data {
		sc, rows, err := s.batchSchema("append", k, recs)
		if err != nil {
			return err
		}
		if rows > 0 {
			schemas[k] = sc
		}
	}
	if len(schemas) == 0 {
		return nil
	}
	streams := make(map[string][]byte, len(schemas))
	defer func() {
		for _, b := range streams {
			putBuf(b)
		}
	}()
	for k, sc := range schemas {
		b, err := s.encode(getBuf(streamSize(data[k])), sc, data[k])
		if err != nil {
			putBuf(b)
			return fmt.Errorf("arrowstore: append %q: %w", k, err)
		}
		streams[k] = b
	}
	claimed, err := s.claim(schemas)
	if err != nil {
		return err
	}
	if err := s.inner.Append(streams); err != nil {
		s.forget(claimed, false)
		return err
	}
	return nil
}

// batchSchema returns the schema the batches of key share and their rows,
// or an error if they differ from each other or from the Store's schema.
func (s *Store) batchSchema(op, key string, recs []arrow.RecordBatch) (*arrow.Schema, int64, error) {
	var (
		sc   *arrow.Schema
		rows int64
	)
	for i, r := range recs {
		if r == nil {
			return nil, 0, fmt.Errorf("arrowstore: %s %q: batch %d is nil", op, key, i)
		}
		if sc == nil {
			sc = r.Schema()
		} else if !r.Schema().Equal(sc) {
			return nil, 0, fmt.Errorf("arrowstore: %s %q: %w: batch %d has %s, batch 0 has %s%s",
				op, key, ErrSchema, i, formatSchema(r.Schema()), formatSchema(sc), schemaDiff(sc, r.Schema()))
		}
		rows += r.NumRows()
	}
	if sc != nil && s.opts.schema != nil && !sc.Equal(s.opts.schema) {
		return nil, 0, fmt.Errorf("arrowstore: %s %q: %w: the store holds %s, the batch has %s%s",
			op, key, ErrSchema, formatSchema(s.opts.schema), formatSchema(sc), schemaDiff(s.opts.schema, sc))
	}
	return sc, rows, nil
}

// encode appends to dst one IPC stream of the batches of recs that have
// rows.
func (s *Store) encode(dst []byte, sc *arrow.Schema, recs []arrow.RecordBatch) ([]byte, error) {
	w := &sliceWriter{b: dst}
	iw := ipc.NewWriter(w, s.opts.writerOptions(sc)...)
	for _, r := range recs {
		if r.NumRows() == 0 {
			continue
		}
		if err := iw.Write(r); err != nil {
			iw.Close()
			return w.b, err
		}
	}
	if err := iw.Close(); err != nil {
		return w.b, err
	}
	return w.b, nil
}

// claim checks the schemas of an Append against what the keys hold and
// records them as the keys' schemas. It returns the keys it claimed that
// held nothing before, which the caller forgets if its write fails.
func (s *Store) claim(schemas map[string]*arrow.Schema) ([]string, error) {
	if s.opts.schema != nil {
		return nil, nil // every key holds the Store's schema, checked already
	}
	for {
		s.mu.Lock()
		gen := s.gen
		var unknown []string
		for k, sc := range schemas {
			if held, ok := s.known[k]; ok {
				if !held.Equal(sc) {
					s.mu.Unlock()
					return nil, mismatch(k, held, sc)
				}
				continue
			}
			unknown = append(unknown, k)
		}
		s.mu.Unlock()
		var stored map[string]*arrow.Schema
		if len(unknown) > 0 {
			var err error
			if stored, err = s.storedSchemas(unknown); err != nil {
				return nil, err
			}
		}
		s.mu.Lock()
		if s.gen != gen {
			// A Set, Delete, Pop or Drop ran meanwhile: what the lookup
			// saw may be gone. Look again.
			s.mu.Unlock()
			continue
		}
		for k, sc := range schemas {
			held, ok := s.known[k]
			if !ok {
				held = stored[k]
			}
			if held != nil && !held.Equal(sc) {
				s.mu.Unlock()
				return nil, mismatch(k, held, sc)
			}
		}
		var claimed []string
		for k, sc := range schemas {
			if _, ok := s.known[k]; ok {
				continue
			}
			if held := stored[k]; held != nil {
				s.known[k] = held
				continue
			}
			s.known[k] = sc
			claimed = append(claimed, k)
		}
		s.mu.Unlock()
		return claimed, nil
	}
}

func mismatch(key string, held, got *arrow.Schema) error {
	return fmt.Errorf("arrowstore: append %q: %w: the key holds %s, the batch has %s%s",
		key, ErrSchema, formatSchema(held), formatSchema(got), schemaDiff(held, got))
}

// storedSchemas reads the schema of each key from the inner store: nil for
// a key that holds nothing.
func (s *Store) storedSchemas(keys []string) (map[string]*arrow.Schema, error) {
	if ks, ok := s.inner.(partd.KeySizer); ok {
		sizes, err := ks.Sizes(keys...)
		if err == nil && len(sizes) == len(keys) {
			held := keys[:0:0]
			for i, k := range keys {
				if sizes[i] > 0 {
					held = append(held, k)
				}
			}
			keys = held
		} else if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
	}
	out := make(map[string]*arrow.Schema, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := partd.ViewChunks(s.inner, keys, func(chunks [][][]byte) error {
		if len(chunks) != len(keys) {
			return fmt.Errorf("arrowstore: inner store returned %d values for %d keys: %w", len(chunks), len(keys), partd.ErrCorrupt)
		}
		for i, pieces := range chunks {
			sc, err := s.firstSchema(pieces)
			if err != nil {
				return fmt.Errorf("arrowstore: append %q: the stored bytes: %w", keys[i], corrupt(err))
			}
			out[keys[i]] = sc
		}
		return nil
	})
	return out, err
}

// firstSchema decodes the schema of the first stream in a key's bytes,
// given as pieces, joining only the pieces the schema message spans.
func (s *Store) firstSchema(pieces [][]byte) (*arrow.Schema, error) {
	var head []byte
	need := 8
	for _, p := range pieces {
		if len(head) >= need {
			break
		}
		head = append(head, p...)
		if need == 8 && len(head) >= 8 {
			need += int(messageMetaLen(head))
		}
	}
	if len(head) == 0 {
		return nil, nil
	}
	if len(head) > need {
		head = head[:need]
	}
	head = append(head, eos[:]...) // so that the stream ends where its schema does
	rd, err := ipc.NewReaderFromMessageReader(newStreamMessages(memory.NewBufferBytes(head), 0, s.opts.decodeLimit), ipc.WithAllocator(s.opts.mem))
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	return rd.Schema(), nil
}

// eos is the end-of-stream marker.
var eos = [8]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}

// messageMetaLen returns the metadata length the first message in b (at
// least 8 bytes) declares, with its header, or 0.
func messageMetaLen(b []byte) int {
	l := int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if l == -1 {
		l = int32(uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24)
		if l < 0 || l > maxMetadata {
			return 0
		}
		return int(l)
	}
	if l < 0 || l > maxMetadata {
		return 0
	}
	return int(l) - 4 // no continuation marker: the header is 4 bytes
}

// forget drops keys from the schemas s knows; with bump, it also makes
// lookups in flight start over.
func (s *Store) forget(keys []string, bump bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.known, k)
	}
	if bump {
		s.gen++
	}
}

// Set replaces a key's bytes with one stream of recs, atomically where the
// inner store's Set is. The batches must share one schema, which may
// differ from what the key held. Batches without rows are not written: Set
// with none that have rows deletes the key.
func (s *Store) Set(key string, recs []arrow.RecordBatch) error {
	if s.closed.Load() {
		return s.errClosed("set")
	}
	if err := partd.ValidateKey(key); err != nil {
		return err
	}
	sc, rows, err := s.batchSchema("set", key, recs)
	if err != nil {
		return err
	}
	var b []byte
	if rows > 0 {
		b, err = s.encode(getBuf(streamSize(recs)), sc, recs)
		defer putBuf(b)
		if err != nil {
			return fmt.Errorf("arrowstore: set %q: %w", key, err)
		}
	}
	s.forget([]string{key}, true)
	err = s.inner.Set(key, b)
	s.forget([]string{key}, true)
	return err
}

// Get returns each key's batches, in append order; an unknown key yields
// none. The batches belong to the caller, who releases them. Get reads all
// keys with one Get of the inner store and decodes every batch before it
// returns; [Store.Reader] decodes one batch at a time.
//
// Bytes that are not Arrow IPC streams are an error wrapping
// partd.ErrCorrupt; streams of another schema than the key's first are an
// error wrapping [ErrSchema]. Both name the key.
func (s *Store) Get(keys ...string) ([][]arrow.RecordBatch, error) {
	if s.closed.Load() {
		return nil, s.errClosed("get")
	}
	raw, err := s.fetch(keys)
	if err != nil {
		return nil, err
	}
	return s.decodeAll(keys, raw)
}

// Pop returns each key's batches, as Get does, and deletes the keys:
// atomically where the inner store is a [partd.Popper], else with a Get
// and then a Delete (see [partd.Pop]). A reducer frees a partition as it
// takes it.
func (s *Store) Pop(keys ...string) ([][]arrow.RecordBatch, error) {
	if s.closed.Load() {
		return nil, s.errClosed("pop")
	}
	s.forget(keys, true)
	vals, err := partd.Pop(s.inner, keys...)
	s.forget(keys, true)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(keys) {
		return nil, errCount(len(vals), len(keys))
	}
	raw := make([]keyBytes, len(vals))
	for i, b := range vals {
		raw[i] = plainBytes(b)
	}
	return s.decodeAll(keys, raw)
}

func errCount(got, want int) error {
	return fmt.Errorf("arrowstore: get: inner store returned %d values for %d keys: %w", got, want, partd.ErrCorrupt)
}

func isUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// decodeAll decodes every batch of the keys whose bytes are raw. It takes
// the references raw holds.
func (s *Store) decodeAll(keys []string, raw []keyBytes) ([][]arrow.RecordBatch, error) {
	out := make([][]arrow.RecordBatch, len(keys))
	for i, b := range raw {
		d := s.newDecoder(keys[i], b, s.opts.schema)
		for {
			rec, err := d.next()
			if err != nil {
				for _, recs := range out {
					releaseAll(recs)
				}
				for _, b := range raw[i+1:] {
					b.buf.Release()
				}
				// None of the key's batches is left: what the decoder's
				// allocator still holds, arrow-go leaked.
				d.mem.freeSince(0)
				return nil, err
			}
			if rec == nil {
				break
			}
			out[i] = append(out[i], rec)
		}
		d.close()
	}
	return out, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// Table returns a key's batches as one table (no copy: its chunks are the
// batches), which the caller releases. An unknown key yields a table
// without rows, of the Store's schema if it has one ([WithSchema]) and
// without columns otherwise.
func (s *Store) Table(key string) (arrow.Table, error) {
	recs, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	defer releaseAll(recs[0])
	sc := s.opts.schema
	if len(recs[0]) > 0 {
		sc = recs[0][0].Schema()
	}
	if sc == nil {
		sc = arrow.NewSchema(nil, nil)
	}
	return array.NewTableFromRecords(sc, recs[0]), nil
}

// Delete removes keys; unknown keys are not an error.
func (s *Store) Delete(keys ...string) error {
	if s.closed.Load() {
		return s.errClosed("delete")
	}
	s.forget(keys, true)
	err := s.inner.Delete(keys...)
	s.forget(keys, true)
	return err
}

// Keys returns every key that holds bytes, sorted: the inner store's keys.
func (s *Store) Keys() ([]string, error) {
	if s.closed.Load() {
		return nil, s.errClosed("keys")
	}
	return s.inner.Keys()
}

// Drop removes everything from the inner store; the Store stays usable.
func (s *Store) Drop() error {
	if s.closed.Load() {
		return s.errClosed("drop")
	}
	s.dropKnown()
	err := s.inner.Drop()
	s.dropKnown()
	return err
}

func (s *Store) dropKnown() {
	s.mu.Lock()
	clear(s.known)
	s.gen++
	s.mu.Unlock()
}

// Flush flushes the inner store if it is a [partd.Flusher] (a Buffer).
func (s *Store) Flush() error {
	if s.closed.Load() {
		return s.errClosed("flush")
	}
	return partd.Flush(s.inner)
}

// Close closes the Store and the inner store. Later calls return an error
// wrapping partd.ErrClosed; a second Close returns nil. Batches read
// before stay valid.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.inner.Close()
}

// corrupt makes err wrap partd.ErrCorrupt, unless it is a schema error.
func corrupt(err error) error {
	if errors.Is(err, partd.ErrCorrupt) || errors.Is(err, ErrSchema) {
		return err
	}
	return fmt.Errorf("%w: %w", partd.ErrCorrupt, err)
}

// formatSchema writes a schema on one line: {a int64, b utf8 not null}.
func formatSchema(sc *arrow.Schema) string {
	if sc == nil {
		return "no schema"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range sc.Fields() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatField(f))
	}
	b.WriteByte('}')
	return b.String()
}

func formatField(f arrow.Field) string {
	s := fmt.Sprintf("%s %s", f.Name, f.Type)
	if !f.Nullable {
		s += " not null"
	}
	if f.HasMetadata() {
		s += fmt.Sprintf(" %v", f.Metadata)
	}
	return s
}

// schemaDiff says where two schemas first differ, to point at it in a
// long schema.
func schemaDiff(a, b *arrow.Schema) string {
	fa, fb := a.Fields(), b.Fields()
	for i := range min(len(fa), len(fb)) {
		if !fa[i].Equal(fb[i]) {
			return fmt.Sprintf(" (field %d: %s, not %s)", i, formatField(fb[i]), formatField(fa[i]))
		}
	}
	if len(fa) != len(fb) {
		return fmt.Sprintf(" (%d fields, not %d)", len(fb), len(fa))
	}
	if a.Endianness() != b.Endianness() {
		return fmt.Sprintf(" (%s endian, not %s)", b.Endianness(), a.Endianness())
	}
	return ""
}

// sliceWriter is an io.Writer that appends to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// bufPool holds encoding buffers; maxPooledBuf bounds what it keeps.
var bufPool sync.Pool

const maxPooledBuf = 16 << 20

func getBuf(size int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= size {
		return (*p)[:0]
	} else if ok {
		bufPool.Put(p)
	}
	return make([]byte, 0, size)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// streamSize estimates the bytes of a stream of recs: their buffers, and
// room for the messages' metadata.
func streamSize(recs []arrow.RecordBatch) int {
	n := 1024
	for _, r := range recs {
		n += 512
		for _, c := range r.Columns() {
			n += dataSize(c.Data())
		}
	}
	return n
}

func dataSize(d arrow.ArrayData) int {
	n := 0
	for _, b := range d.Buffers() {
		if b != nil {
			n += b.Len() + 8
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	if dict := dictionaryOf(d); dict != nil {
		n += dataSize(dict)
	}
	return n
}
