// Package partd is a concurrent, appendable key-value byte store for shuffles
// and spills, in the spirit of Python's partd (dask).
//
// Values are raw bytes. [Store.Append] adds bytes to the end of what a key
// already holds; [Store.Get] returns everything a key holds, in append order.
// Stores nest like io.Reader wrappers: a write policy ([Dict], [File],
// [Log], [Buffer]) at the core, compression (package compress) and encodings
// (package encode) around it, and optionally a server (packages server and
// client) in front so many processes share one store.
//
// # Keys
//
// A key is a non-empty UTF-8 string of at most [MaxKeyLen] bytes. A "/"
// separates the parts of a tuple key (Key("df", "col") is "df/col"); each part
// is non-empty, is not "." or "..", contains no NUL and, once mapped to a file
// name, fits in 255 bytes. A key and a tuple key under it ("x" and "x/y")
// cannot both hold bytes. Every store applies the same rules, so a batch a
// [Dict] accepts is one a [File] accepts too, and a [Buffer] never fails to
// spill for a reason its fast store did not report.
//
// A key that holds no bytes does not exist: appending an empty value to a new
// key creates nothing, and Set with an empty value deletes the key.
//
// # Options
//
// One rule holds for every constructor of this module that takes options:
// it validates them when it builds the store and returns a bad one's error
// at once; none clamps a bad value silently, and no option's error surfaces
// on a later call. The form follows the kind of constructor. A write policy
// takes one options struct, nil meaning the defaults and a zero field its
// default ([OpenFile] with [FileOptions], [OpenLog] with [LogOptions]), as
// bbolt's Open does: policies have many independent knobs, which commands
// fill from flags and configuration. A layer takes validated functional
// options (compress.Option, a func(*options) error), as klauspost/compress's
// encoders do: a layer has one or two knobs and usually none, so
// compress.Zstd(inner) stays short, and compress.NewZstd(inner, opts...)
// returns a bad option's error as zlib.NewWriterLevel does. A store or a
// server reached over a connection (redisstore.New, client.Dial,
// server.New) takes validated functional options too: its knobs are few,
// each with a default. The encode layers take none.
//
// # Lock order
//
// Where locks nest they are taken in this order, never the reverse:
//
//	Buffer.mu -> fast store -> slow store -> File.mu -> File's .lock (flock)
//	Log: compactMu -> writeMu -> ioMu -> mu
//
// Goroutines: File spreads the system calls of a large batch over GOMAXPROCS
// goroutines that end before the call returns. A Log runs one compaction at
// a time in a goroutine of its own when dead bytes cross its thresholds;
// Close waits for it. No other store keeps a goroutine running. Buffer
// holds its lock while it spills, so a Get waits for a spill in progress.
package partd

import (
	"fmt"
	"strings"

	"github.com/gopartd/partd/internal/errs"
	"github.com/gopartd/partd/internal/keypath"
)

// Store is the contract every layer implements: write policies, compression
// and encoding layers over bytes, and the network client.
//
// Every Store is safe for concurrent use by many goroutines. A key's bytes are
// the concatenation of its appends in the order the appends returned.
//
// Implementations must not retain the caller's slices after Append or Set
// returns, and slices returned by Get belong to the caller: no later call
// changes them.
type Store interface {
	// Append adds each value to the end of its key. A batch with any invalid
	// key is rejected whole with ErrInvalidKey and nothing is written.
	Append(data map[string][]byte) error
	// Get returns one result per key, in the order asked. An unknown key
	// yields an empty (nil) slice, not an error.
	Get(keys ...string) ([][]byte, error)
	// Set replaces a key's bytes atomically: readers see the old bytes or the
	// new, never a mix. This is Python partd's iset.
	Set(key string, value []byte) error
	// Delete removes keys. Unknown keys are not an error.
	Delete(keys ...string) error
	// Keys returns every key that holds bytes, sorted.
	Keys() ([]string, error)
	// Drop removes everything; the store stays usable.
	Drop() error
	// Close releases resources. Later calls return ErrClosed; a second Close
	// returns nil.
	Close() error
}

// Errors returned by stores, always wrapped with context: test with errors.Is.
// Each is the value of internal/errs, so the packages under internal/
// return them too.
var (
	// ErrClosed is returned by every call on a store after Close.
	ErrClosed = errs.ErrClosed
	// ErrInvalidKey is returned for a key that breaks the key rules (see the
	// package documentation), including one that conflicts with a stored key.
	ErrInvalidKey = errs.ErrInvalidKey
	// ErrCorrupt is returned when stored bytes cannot be decoded: a frame that
	// runs past the end of the data, a failed checksum, a malformed encoding.
	ErrCorrupt = errs.ErrCorrupt
	// ErrNotStore is returned when a directory given to a disk store is not
	// empty and holds no store: opening it would adopt, list and drop files
	// the store did not write.
	ErrNotStore = errs.ErrNotStore
	// ErrLocked is returned when a store that one process holds alone (a
	// Log) is already open in another process.
	ErrLocked = errs.ErrLocked
	// ErrKeyChanged is returned by the Read of a key's reader (NewReader)
	// when the key was deleted, replaced or dropped before the reader
	// reached its end, in a store that cannot keep showing the bytes the
	// reader started on (a Dict, a Log): the reader stops rather than
	// return a mix of old and new bytes.
	ErrKeyChanged = errs.ErrKeyChanged
	// ErrFull is returned by an Append or Set that a store refused because
	// it holds as much as it may on disk (a Quota's limit), or because the
	// disk is full: the call wrote nothing, and reads and deletes go on.
	// It is not an I/O error: retry once there is room.
	ErrFull = errs.ErrFull
)

// MaxKeyLen is the longest key, in bytes, that any store accepts.
const MaxKeyLen = keypath.MaxKeyLen

// Key joins the parts of a tuple key with "/": Key("df", "col") is "df/col".
func Key(parts ...string) string { return strings.Join(parts, "/") }

// ValidateKey reports whether key follows the key rules shared by every store.
// The error wraps ErrInvalidKey and says what is wrong.
func ValidateKey(key string) error {
	if err := keypath.Validate(key); err != nil {
		return fmt.Errorf("partd: key %q: %w: %v", key, ErrInvalidKey, err)
	}
	return nil
}

// ValidateBatch checks every key of a batch as Append must before it writes
// anything: each key follows the key rules, and no key of the batch is a
// tuple parent of another ("x" and "x/y" in one Append). Conflicts with keys
// already stored are the store's to check. The error wraps ErrInvalidKey.
// Stores written outside this module use it to apply the same rules.
func ValidateBatch[V any](data map[string]V) error {
	for k := range data {
		if err := ValidateKey(k); err != nil {
			return err
		}
	}
	if len(data) < 2 {
		return nil
	}
	for k := range data {
		for p := range keypath.Parents(k) {
			if _, ok := data[p]; ok {
				return fmt.Errorf("partd: key %q: %w: conflicts with key %q in the same batch", k, ErrInvalidKey, p)
			}
		}
	}
	return nil
}

// errClosed is the error of the call op on a closed store.
func errClosed(op string) error { return fmt.Errorf("partd: %s: %w", op, ErrClosed) }

// errConflict is the error of the call op on key, which cannot be stored
// beside the stored key stored: one of them is a tuple parent of the other
// ("x" and "x/y").
func errConflict(op, key, stored string) error {
	return errs.Conflict("partd", op, key, stored)
}
