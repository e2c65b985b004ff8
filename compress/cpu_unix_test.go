//go:build unix

package compress_test

import (
	"syscall"
	"time"
)

// cpuSeconds returns the CPU time (user and system) the process has used.
// Set beside wall-clock MB/s it shows efficiency that does not depend on
// what else the machine runs.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
