//go:build !unix

package redistest

import (
	"errors"
	"os"
)

func pause(*os.Process) error  { return errors.New("redistest: Pause needs a Unix system") }
func resume(*os.Process) error { return nil }
