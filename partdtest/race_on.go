//go:build race

package partdtest

// raceEnabled scales the concurrent checks down under the race detector.
const raceEnabled = true
