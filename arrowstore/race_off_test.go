//go:build !race

package arrowstore

// raceEnabled scales the heaviest tests down under the race detector.
const raceEnabled = false
