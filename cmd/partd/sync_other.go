//go:build !unix

package main

// syncDisks does nothing where there is no sync(2): a benchmark run starts
// on whatever the previous one left dirty.
func syncDisks() {}
