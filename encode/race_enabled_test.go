//go:build race

package encode

// raceEnabled scales the concurrent tests down under the race detector.
const raceEnabled = true
