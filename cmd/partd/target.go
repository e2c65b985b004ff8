package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
)

// target is where a command's data lives: a partd server (--addr) or a
// File store directory (--dir).
type target struct {
	addr     string
	dir      string
	compress string
	timeout  time.Duration
	existing bool // the command only reads or removes: a --dir that holds no store is an error, and nothing is created
}

// addTargetFlags registers --addr, --dir, --timeout and, withCompress,
// --compress on cmd.
func addTargetFlags(cmd *cobra.Command, t *target, withCompress bool) {
	fl := cmd.Flags()
	fl.StringVar(&t.addr, "addr", "", "address of a partd server: tcp://HOST:PORT or ipc://PATH")
	fl.StringVar(&t.dir, "dir", "", "directory of a File store, used directly without a server")
	t.compress = "none"
	if withCompress {
		fl.StringVar(&t.compress, "compress", "none", "compression layer over the store: none, zstd, zstd:LEVEL, snappy, zlib, zlib:LEVEL")
	}
	fl.DurationVar(&t.timeout, "timeout", client.DefaultTimeout, "with --addr, how long to wait for each answer of the server")
}

// check returns a usage error unless exactly one of --addr and --dir is set
// and --compress parses.
func (t target) check() error {
	if (t.addr == "") == (t.dir == "") {
		return usageError{errors.New("give exactly one of --addr (a server) and --dir (a directory)")}
	}
	if strings.Contains(t.dir, "://") {
		return usageError{fmt.Errorf("--dir takes a directory path, not a URI: %q", t.dir)}
	}
	if _, err := compress.Parse(t.compress); err != nil {
		return usageError{fmt.Errorf("--compress: %w", err)}
	}
	return nil
}

// openRaw opens the store below any compression layer: a client of the
// server, or the File store.
func (t target) openRaw() (partd.Store, error) {
	if t.addr != "" {
		c, err := client.Dial(t.addr, client.WithTimeout(t.timeout))
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", t.addr, err)
		}
		return c, nil
	}
	return partd.OpenFile(t.dir, &partd.FileOptions{NoCreate: t.existing})
}

// open opens the store with the --compress layer over it; raw is the store
// below that layer. Closing the returned store closes raw too.
func (t target) open() (store, raw partd.Store, err error) {
	setting, err := compress.Parse(t.compress)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--compress: %w", err)}
	}
	raw, err = t.openRaw()
	if err != nil {
		return nil, nil, err
	}
	store, err = setting.Wrap(raw)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	return store, raw, nil
}

// newServerStore builds the store an embedded server serves: a Buffer holding
// up to memory bytes in a Dict and spilling its largest keys to a File store
// in dir ("" for a temporary directory removed on Close), or the File store
// alone when memory is 0. It is the store `partd serve` builds.
func newServerStore(dir string, memory int64) (partd.Store, error) {
	file, err := partd.NewFile(dir)
	if err != nil {
		return nil, err
	}
	if memory <= 0 {
		return file, nil
	}
	limitMemory(memory)
	return partd.NewBuffer(partd.NewDict(), file, memory), nil
}

// limitMemory tells the Go runtime the process's budget for a Buffer of
// memory bytes, unless GOMEMLIMIT says otherwise: without it the collector
// lets the heap grow to about twice what is live (see partd.Buffer).
func limitMemory(memory int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memory + memory/4 + 64<<20)
	}
}
