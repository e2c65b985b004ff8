//go:build unix

package main

import "syscall"

// syncDisks writes every dirty page back (sync(2)), so that a benchmark
// run starts on a settled disk.
func syncDisks() { syscall.Sync() }
