//go:build !race

package partd_test

// raceEnabled scales the longest tests down under the race detector,
// which slows every byte a system call reads.
const raceEnabled = false
