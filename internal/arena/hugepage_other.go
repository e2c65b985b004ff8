//go:build (darwin || dragonfly || freebsd || netbsd || openbsd) && !linux

package arena

// adviseHugePages does nothing where there is no MADV_HUGEPAGE.
func adviseHugePages([]byte) {}
