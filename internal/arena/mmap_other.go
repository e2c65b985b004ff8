//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package arena

// mapsOwnMemory is false where the arena takes its memory from the heap.
const mapsOwnMemory = false

// mapMemory takes memory from the Go heap where the system has no mmap
// here: the arena still works, without keeping its memory off the
// collector's books.
func mapMemory(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapMemory([]byte) error { return nil }

func mapSlab(n int) ([]byte, error) { return make([]byte, n), nil }

// populate does nothing: the heap's memory is the runtime's to fault in.
func populate([]byte) {}
