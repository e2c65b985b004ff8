package arrowstore

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Compression is the IPC body compression a Store writes with: each
// buffer of a record batch compressed on its own, as the Arrow format
// defines it (BodyCompression), so every Arrow reader that has the codec
// reads it. Reading needs no option: a stream says how it was written.
type Compression int

const (
	// Uncompressed writes buffers as they are, the default. Every Arrow
	// reader reads it, and reading it copies nothing.
	Uncompressed Compression = iota
	// LZ4Frame compresses each buffer with LZ4 (frame format).
	LZ4Frame
	// Zstd compresses each buffer with Zstandard. Some readers need a codec
	// registered for it (apache-arrow for JavaScript does).
	Zstd
)

// String returns "uncompressed", "lz4" or "zstd".
func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case LZ4Frame:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// DefaultDecodeLimit is the most bytes a compressed record batch may
// declare that its buffers decode to, unless [WithDecodeLimit] says
// otherwise: a corrupt or hostile stream cannot make a reader allocate more.
const DefaultDecodeLimit = 4 << 30

// An Option configures a [Store]: [WithAllocator], [WithCompression],
// [WithSchema], [WithDecodeLimit], [WithReadPool]. New reports an option
// that cannot apply.
type Option func(*options) error

type options struct {
	mem         memory.Allocator
	compression Compression
	schema      *arrow.Schema
	decodeLimit int64
	noPool      bool
}

func defaultOptions() options {
	return options{mem: memory.DefaultAllocator, decodeLimit: DefaultDecodeLimit}
}

// WithAllocator sets the allocator of the memory the Store allocates for
// Arrow data: the buffers of batches read from compressed streams and of
// dictionaries that streams extend, and the IPC writer's scratch memory.
// Batches read from uncompressed streams allocate nothing from it: their
// buffers are the bytes read from the inner store (see the package
// documentation). The default is memory.DefaultAllocator.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) error {
		if mem == nil {
			return errors.New("arrowstore: WithAllocator(nil)")
		}
		o.mem = mem
		return nil
	}
}

// WithCompression sets the IPC body compression of the streams Append and
// Set write: [Uncompressed] (the default), [LZ4Frame] or [Zstd].
func WithCompression(c Compression) Option {
	return func(o *options) error {
		switch c {
		case Uncompressed, LZ4Frame, Zstd:
			o.compression = c
			return nil
		}
		return fmt.Errorf("arrowstore: WithCompression: unknown compression %d", int(c))
	}
}

// WithSchema fixes the schema of every key of the Store: Append and Set
// refuse a batch of any other schema (compared as [arrow.Schema.Equal]
// compares them), and Append does not read a key to learn its schema,
// because every writer through such a Store writes this one. Readers check
// the stored streams against it, and a key that holds nothing reads as
// zero batches of this schema.
func WithSchema(schema *arrow.Schema) Option {
	return func(o *options) error {
		if schema == nil {
			return errors.New("arrowstore: WithSchema(nil)")
		}
		o.schema = schema
		return nil
	}
}

// WithDecodeLimit sets the most bytes the buffers of one compressed record
// batch may declare they decode to; a batch that declares more is an error
// wrapping partd.ErrCorrupt. The default is [DefaultDecodeLimit].
func WithDecodeLimit(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("arrowstore: WithDecodeLimit(%d): not positive", n)
		}
		o.decodeLimit = n
		return nil
	}
}

// WithReadPool says whether the Store reads keys into buffers it reuses
// once the last batch that refers to them is released (the default, where
// the inner store can read into the caller's memory: see the package
// documentation). WithReadPool(false) reads each key into memory of its
// own, which only the garbage collector frees: for code that uses batches
// after releasing them.
func WithReadPool(enabled bool) Option {
	return func(o *options) error {
		o.noPool = !enabled
		return nil
	}
}

// writerOptions returns the arrow-go IPC writer options for a stream of
// schema.
func (o *options) writerOptions(schema *arrow.Schema) []ipc.Option {
	opts := []ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(o.mem)}
	switch o.compression {
	case LZ4Frame:
		opts = append(opts, ipc.WithLZ4())
	case Zstd:
		opts = append(opts, ipc.WithZstd())
	}
	return opts
}
