// Package encode holds partd's typed layers: each wraps a [partd.Store] of
// bytes and stores Go values in it, the way Python partd's Encode, Python and
// Numpy layers do.
//
//   - [Encoded] (built by [New]) stores any T through a [Codec]: one frame
//     (an 8-byte little-endian length, then the encoded bytes) per appended
//     value; Get splits the frames, decodes each and joins them.
//   - [Msgpack] is an Encoded over lists in msgpack, byte-compatible with
//     Python's partd.Python: each reads what the other writes.
//   - [Numeric] stores numbers as raw little-endian bytes, no frames, with the
//     numpy dtype string under key+".dtype", as partd.Numpy does.
//   - [Columns] stores tables of named typed columns, one key per column, so
//     reading two columns of forty reads two keys.
//
// # Layouts in the inner store
//
// Encoded (and Msgpack) use the caller's keys as they are. For a key k:
//
//	k                        frames, one per Append (msgpack lists for Msgpack)
//
// Numeric writes two keys per key k; keys ending in ".dtype" are reserved:
//
//	k                        raw little-endian numbers
//	k.dtype                  numpy dtype string: "<i8", "<f8", "|u1", …
//
// Columns writes, for a table under key k with columns c1, c2, …:
//
//	k/.schema                JSON: {"version":1,"columns":[{"name":"c1","type":"int64"},…]}
//	k/c1, k/c1.dtype         a numeric column, exactly as Numeric stores it
//	k/c2, k/c2.dtype         a string or bytes column: msgpack-framed lists, dtype "|O"
//
// Column names are valid key parts that neither start with "." (reserved for
// metadata such as ".schema", as pandas' ".columns" and ".index") nor end in
// ".dtype". Python's partd.Numpy reads every column of such a table:
// numeric columns as plain arrays, string and bytes columns as object arrays
// of str and bytes.
//
// # Errors
//
// Stored bytes that cannot be decoded are an error wrapping
// [partd.ErrCorrupt] that names the key: a frame running past the end of
// the data, malformed msgpack (including a pickle frame planted by a Python
// writer: it is never executed), a numeric key whose length is not a
// multiple of the element size. Appending values whose type differs from the
// stored one (a float64 slice to a key holding int64, a table with other
// columns) is an error wrapping [ErrSchema]. Invalid keys are
// [partd.ErrInvalidKey], a closed layer [partd.ErrClosed]. No input makes
// these layers panic.
//
// # Untrusted bytes
//
// Stored bytes may come from another process or another language, so
// decoding trusts no length. Msgpack frames are walked once, without
// allocating, before they are decoded: every array, map, string and binary
// length must be backed by bytes that are really there and nesting may not
// pass 1024 levels, so a hostile header claiming four billion elements
// costs nothing. Fuzz targets (go test -fuzz) cover frames, msgpack,
// numeric and columns decoding.
//
// # Close
//
// Every layer owns the store it wraps: Close closes the inner store too (as
// Python's Encode.__exit__ does), and later calls return partd.ErrClosed. A
// second Close returns nil.
//
// # Concurrency
//
// Every layer is safe for concurrent use when its inner store is. Append may
// encode the values of a large batch on several goroutines; they have all
// returned before Append does. No goroutine outlives a call.
package encode
