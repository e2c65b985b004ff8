package partd

import (
	"github.com/gopartd/partd/internal/errorfs"
	"github.com/gopartd/partd/internal/osfile"
)

// InjectLogFaults routes l's writes, syncs and truncations through inj
// (errorfs.Wrap of the operating system's osfile.FS): the fault-injection
// seam of the Log's tests. The writes go through the production path,
// pwritev included.
func InjectLogFaults(l *Log, inj *errorfs.Injector) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.fs = errorfs.Wrap(osfile.Default, inj)
}

// InjectFileFaults routes f's writes, syncs and truncations through inj,
// as InjectLogFaults does for a Log.
func InjectFileFaults(f *File, inj *errorfs.Injector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fs = errorfs.Wrap(osfile.Default, inj)
}

// FixRecordChecksums gives every record of a segment's bytes that fits in
// them a good checksum (see fixRecordChecksums), for the fuzz tests of the
// external test package.
func FixRecordChecksums(data []byte) []byte { return fixRecordChecksums(data) }
