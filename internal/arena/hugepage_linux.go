package arena

import "golang.org/x/sys/unix"

// adviseHugePages asks for transparent huge pages behind mem, where the
// system's setting is "madvise" (with "always" it gets them anyway, with
// "never" not at all). It is advice: an error changes nothing.
func adviseHugePages(mem []byte) { _ = unix.Madvise(mem, unix.MADV_HUGEPAGE) }

// populate faults in mem's pages for writing (MADV_POPULATE_WRITE, Linux
// 5.14), or touches each page where the kernel is older.
func populate(mem []byte) {
	if unix.Madvise(mem, unix.MADV_POPULATE_WRITE) != nil {
		touch(mem)
	}
}
