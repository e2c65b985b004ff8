// Package arrowstore keeps Apache Arrow record batches by key in any
// [partd.Store]: a Dict, a File, a Log, a Buffer of them, a client of a
// partd server, Redis. It is a package of its own so that programs that
// use package encode do not compile arrow-go.
//
//	log, _ := partd.NewLog(dir)
//	s, _ := arrowstore.New(partd.NewBuffer(partd.NewOffHeapDict(), log, 256<<20))
//	parts, _ := arrowstore.Partition(ctx, batch, 64, "key")
//	s.Append(map[string][]arrow.RecordBatch{"part-7": {parts[7]}, ...})
//	r, _ := s.Reader("part-7") // an array.RecordReader
//
// # Format
//
// Each value [Store.Append] adds to a key is one complete Arrow IPC stream
// (the schema message, the batches, the end-of-stream marker), so a key
// holds concatenated IPC streams, as Dask's P2P shuffle writes them. Any
// Arrow stream reader reads a key's bytes stream after stream: pyarrow's
// ipc.open_stream in a loop, arrow-go's ipc.NewReader on what is left,
// apache-arrow's RecordBatchReader.readAll in JavaScript. Bodies are
// uncompressed unless [WithCompression] asks for LZ4 or Zstd body
// compression (the Arrow format's own, written by arrow-go's IPC writer).
//
// # Schemas
//
// A key holds one schema: the batches of one Append to a key must share a
// schema, and it must be the schema the key holds already, as
// [arrow.Schema.Equal] compares them (names, types, nullability and field
// metadata, in order; not schema metadata). Anything else is an error
// wrapping [ErrSchema] that names the key and both schemas, and nothing of
// that Append is written. A Store remembers the schema of every key it has
// written or looked up, so it asks the inner store at most once per key
// ([WithSchema] spares even that).
// Another process that appends a different schema to the same key through
// another Store is not stopped; the readers then report [ErrSchema].
//
// # Reading and memory
//
// [Store.Reader] returns an [array.RecordReader] over the batches of one
// key or more, in append order; it reads each key with one Get of the inner
// store when it reaches it (a partd.Store has no ranged read), and decodes
// one batch at a time. [Store.Get] and [Store.Pop] return all the batches
// of several keys; [Store.Table] one key's batches as an arrow.Table.
//
// Reading an uncompressed stream copies nothing beyond the inner store's
// Get: the buffers of the batches are slices of the key's bytes. Where the
// inner store can read into the caller's memory and tell a key's size
// ([partd.GetAppender] and [partd.KeySizer]: a Dict, File, Log or Buffer),
// the Store reads each key into a buffer from a pool of its own, because a
// fresh allocation costs more than the read (a Log's Get of 1 MiB measured
// ten times slower than reading into reused memory). arrow-go's reference
// counting decides when the buffer is reused: every batch, column and
// buffer sliced from it holds a reference, and it goes back to the pool
// when the last of them is released. So the arrow-go rule matters here:
// a batch is valid until its last Release, and not after (retain a batch
// from a Reader to keep it past the next call of Next). A batch never
// released keeps its bytes until the garbage collector frees them.
// [WithReadPool](false) reads every key into memory of its own instead,
// as with other stores (a client, Redis), for code that uses batches
// after releasing them. Pooled bytes are not counted by the allocator of
// [WithAllocator]; the buffers of compressed streams (decoded) and of
// dictionary deltas come from it, and are freed by the last Release.
//
// # Partitioning
//
// [Partition] splits a batch into n batches by the hash of one or more
// columns ([HashRows], [PartitionOf]), for a shuffle: each partition is
// appended to its own key. The hash is specified (see HashRows) and fixed:
// it is the same in every run, process and machine, so a row's partition
// never depends on which process read it.
//
// # Corruption
//
// Stored bytes that are not IPC streams (truncated, flipped, or another
// format) are an error wrapping [partd.ErrCorrupt] that names the key and
// the stream, never a panic. The reader trusts no length: message
// metadata is walked, bounds-checked, before arrow-go parses it (nesting,
// field counts and the bytes it refers to are bounded); every buffer must
// lie inside its message; compressed buffers may declare at most
// [WithDecodeLimit] bytes in all per batch; and every batch is checked
// before it is returned, so that reading any of its values cannot panic
// (buffers long enough for the lengths, offsets in order and in range,
// dictionary indexes inside the dictionary).
//
// # Concurrency and Close
//
// A Store is safe for concurrent use. No goroutine outlives a call
// (arrow-go's compute.Take may use GOMAXPROCS goroutines inside
// [Partition]). A Store owns its inner store: Close closes it, and later
// calls return an error wrapping partd.ErrClosed; batches already read stay
// valid.
package arrowstore
