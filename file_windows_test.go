package partd_test

import "errors"

// Windows has no FIFOs at file paths and no limit on open files to lower.

func mkfifo(string) error { return errors.ErrUnsupported }

func lowerOpenFileLimit() error { return errors.ErrUnsupported }
