//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package osfile

// CanPopulate says whether Populate fills in page tables: only on Linux.
const CanPopulate = false

const madvPopulateRead = 0
