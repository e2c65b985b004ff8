// Package compress provides compression layers for partd stores: [Zstd],
// [Snappy] and [ZLib]. Each wraps a [partd.Store], is itself a partd.Store,
// and nests with any other layer:
//
//	s := partd.NewBuffer(partd.NewDict(), compress.Zstd(file), 64<<20) // compresses what it spills
//
// Options follow klauspost/compress's style, one variadic list of
// validated functional options for every constructor, as every layer of
// this module takes them (the write policies of package partd, which have
// many knobs, take an options struct instead; see partd's documentation):
//
//	z, err := compress.NewZstd(inner, compress.WithLevel(9), compress.WithMaxValueSize(64<<20))
//
// NewZstd, NewSnappy and NewZLib return a bad option's error at once, as
// zlib.NewWriterLevel does; Zstd, Snappy and ZLib cannot fail, as
// zlib.NewWriter cannot, and are for options known to be right. A [Setting]
// (parsed from "zstd:9") is the same from configuration, and its Wrap
// reports a bad level at once.
//
// # Format
//
// Every appended value is compressed on its own and stored in the inner store
// as one frame: an 8-byte little-endian length followed by the compressed
// bytes, exactly as Python partd's Encode layer frames them. Get splits a
// key's bytes into frames, decompresses each and returns their concatenation.
// Set stores its value as a single frame.
//
// An empty value is not compressed: appending one stores nothing, and Set
// with one deletes the key, as for every partd store. (Python partd stores a
// frame for an empty append; such a key reads back empty, yet Keys, which
// passes through like Delete and Drop, lists it.)
//
// ZLib (a zlib stream, RFC 1950) and Snappy (the snappy block format, as
// python-snappy's snappy.compress writes it) are byte-compatible with Python
// partd 1.3's partd.ZLib and partd.Snappy over the same store: each reads what
// the other writes. Python partd has no zstd layer, but Zstd's frames are
// standard zstd frames, with a content checksum, so Python code reads and
// writes the same stores with the zstandard module through partd.Encode:
//
//	partd.Encode(zstandard.compress, zstandard.decompress, b''.join, partd.File(dir))
//
// (Frames that zstandard writes carry no checksum; Zstd reads them, with less
// protection against flipped bits.)
//
// # Capabilities
//
// A layer is a [partd.Wrapper]: it keeps each key under the same key in
// the inner store, and its Unwrap returns that store, so the helpers of
// package partd find the capabilities about keys and about the store in the
// inner store: partd.Flush and partd.Size (the compressed bytes the inner
// store holds in memory; none over a store without them), the key listings
// ([partd.PrefixLister], [partd.KeyPager], and so [partd.All]) and a
// Buffer's figures (partd.BufferStatsOf). Of the capabilities about values
// it has [partd.Popper], whose popped frames it decodes (atomic where the
// inner store's Pop is). It is not a [partd.KeySizer]: the inner store knows
// the sizes of the frames, not of the values they decode to, so
// [partd.Sizes] of a layer reads and decodes the values to measure them.
// (encode's typed layers are not partd.Stores; they have Unwrap too.)
//
// # Corruption
//
// A frame that runs past the end of a key's bytes (a torn tail after a crash)
// is an error wrapping [partd.ErrCorrupt] that names the key; so is a frame
// that fails to decompress, a failed zstd or zlib checksum, and a value that
// claims to decompress to more than the layer's maximum value size
// ([DefaultMaxValueSize] unless set with [WithMaxValueSize]). Zstd detects a
// flipped bit anywhere in a key's bytes, frame lengths included (but for the
// 2^-32 chance that its checksum matches anyway); zlib detects all but flips
// in the padding bits deflate ignores; snappy has no checksum, so a flip
// inside a literal goes unnoticed.
//
// [Repair] cuts a key back to its whole frames, so a torn last frame does not
// cost the whole key, and [Salvage] returns the values of the intact frames
// without writing anything.
//
// # Resources
//
// Encoders and decoders are shared by every layer of the process: one
// zstd.Encoder per encoder speed and one zstd.Decoder per maximum value size (both
// used through EncodeAll and DecodeAll), and pools of zlib writers and
// readers. The values of one Append are compressed in parallel, on at most
// GOMAXPROCS goroutines that end before Append returns; small batches are
// compressed on the caller's goroutine. Get decompresses keys in parallel the
// same way. No goroutine outlives a call.
//
// # Close
//
// Closing a layer closes the store it wraps, so closing the outermost layer of
// a stack releases the whole stack, as closing a bufio-wrapped file would if
// bufio owned it. (Python partd's layers have no close; their __exit__ drops
// and exits the inner store.) A layer that shares its inner store with other
// code must therefore be closed last, or not at all. After Close every call
// returns an error wrapping [partd.ErrClosed]; a second Close returns nil and
// does not close the inner store again.
package compress
