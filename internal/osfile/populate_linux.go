package osfile

import "golang.org/x/sys/unix"

// CanPopulate says whether Populate fills in page tables.
const CanPopulate = MmapSupported

const madvPopulateRead = unix.MADV_POPULATE_READ
