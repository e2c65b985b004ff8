// Package errs holds partd's sentinel errors, so that the packages under
// internal/ return them without importing the root package. The root
// package re-exports each as the same value (partd.ErrCorrupt is
// errs.ErrCorrupt), so errors.Is matches either name.
package errs

import (
	"errors"
	"fmt"
)

// The sentinel errors; package partd documents each under its exported
// name.
var (
	ErrClosed     = errors.New("store closed")                    // partd.ErrClosed
	ErrInvalidKey = errors.New("invalid key")                     // partd.ErrInvalidKey
	ErrCorrupt    = errors.New("corrupt data")                    // partd.ErrCorrupt
	ErrNotStore   = errors.New("not a store directory")           // partd.ErrNotStore
	ErrLocked     = errors.New("store in use by another process") // partd.ErrLocked
	ErrKeyChanged = errors.New("key changed while it was read")   // partd.ErrKeyChanged
	ErrFull       = errors.New("store full")                      // partd.ErrFull
)

// Conflict returns the error of the call op on key, which cannot be stored
// beside the stored key stored: one of them is a tuple parent of the other
// ("x" and "x/y"). It wraps ErrInvalidKey; pkg ("partd", "redisstore")
// begins the message, so every store words the conflict the same way.
func Conflict(pkg, op, key, stored string) error {
	return fmt.Errorf("%s: %s %q: %w: conflicts with stored key %q", pkg, op, key, ErrInvalidKey, stored)
}
