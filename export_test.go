package partd

import "github.com/gopartd/partd/internal/errorfs"

// InjectLogFaults routes l's writes, syncs and truncations through inj:
// the fault-injection seam of the Log's tests.
func InjectLogFaults(l *Log, inj *errorfs.Injector) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.faults = inj
}
