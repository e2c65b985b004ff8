package partd_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/storetest"
)

func TestFileConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestFileNoCacheConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.OpenFile(t.TempDir(), &partd.FileOptions{MaxOpenFiles: -1, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}
