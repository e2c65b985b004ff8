//go:build (darwin || dragonfly || freebsd || netbsd || openbsd) && !linux

package arena

// adviseHugePages does nothing where there is no MADV_HUGEPAGE.
func adviseHugePages([]byte) {}

// populate faults in mem's pages by touching each.
func populate(mem []byte) { touch(mem) }
