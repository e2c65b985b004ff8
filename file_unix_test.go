//go:build unix

package partd_test

import "syscall"

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// lowerOpenFileLimit lowers the process's limit on open files to 256.
func lowerOpenFileLimit() error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 256, Max: 256})
}
