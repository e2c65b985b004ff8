//go:build !linux

package partd

import (
	"errors"
	"os"
)

// pwritevSupported says whether pwritevAll writes: not here, where a Log
// copies a record's pieces through a buffer.
const pwritevSupported = false

func pwritevAll(*os.File, [][]byte, int64) error {
	return errors.ErrUnsupported
}
