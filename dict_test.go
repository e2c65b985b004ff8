package partd_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/storetest"
)

func TestDictConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) partd.Store { return partd.NewDict() })
}
