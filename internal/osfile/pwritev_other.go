//go:build !linux

package osfile

import (
	"errors"
	"os"
)

// PwritevSupported says whether FS.Pwritev writes with pwritev(2): not
// here, where it writes piece by piece.
const PwritevSupported = false

func pwritevAll(*os.File, [][]byte, int64) error { return errors.ErrUnsupported }
