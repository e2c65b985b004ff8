package encode

import (
	"fmt"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/keypath"
)

// checkWrites checks, before anything is written, every inner key a batch
// will write: each must be valid, and none may be a parent of another ("x"
// and "x/y"), which the inner store would refuse only after the layer had
// written a dtype or schema. Conflicts with keys already stored are found by
// the inner store; the layers roll back what they wrote first.
func checkWrites(op string, keys map[string]bool) error {
	for k := range keys {
		if err := partd.ValidateKey(k); err != nil {
			return err
		}
	}
	for k := range keys {
		for p := range keypath.Parents(k) {
			if keys[p] {
				return fmt.Errorf("encode: %s %q: %w: conflicts with key %q in the same batch", op, k, partd.ErrInvalidKey, p)
			}
		}
	}
	return nil
}
