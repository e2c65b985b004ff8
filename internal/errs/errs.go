// Package errs holds partd's sentinel errors, so that the packages under
// internal/ return them without importing the root package. The root
// package re-exports each as the same value (partd.ErrCorrupt is
// errs.ErrCorrupt), so errors.Is matches either name.
package errs

import "errors"

// The sentinel errors; package partd documents each under its exported
// name.
var (
	ErrClosed     = errors.New("store closed")                    // partd.ErrClosed
	ErrInvalidKey = errors.New("invalid key")                     // partd.ErrInvalidKey
	ErrCorrupt    = errors.New("corrupt data")                    // partd.ErrCorrupt
	ErrNotStore   = errors.New("not a store directory")           // partd.ErrNotStore
	ErrLocked     = errors.New("store in use by another process") // partd.ErrLocked
	ErrKeyChanged = errors.New("key changed while it was read")   // partd.ErrKeyChanged
)
