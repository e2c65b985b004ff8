package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/storeuri"
)

// target is where a command's data lives: any store by URI (--store), or
// the shorthands for a partd server (--addr) and a File store directory
// (--dir). Without any of the three, $PARTD_STORE or $PARTD_ADDR names it.
type target struct {
	store    string
	addr     string
	dir      string
	compress string
	timeout  time.Duration
	existing bool   // the command only reads or removes: a --dir that holds no store is an error, and nothing is created
	changes  bool   // the command changes the store: mem://, gone when it exits, is refused
	from     string // where store or addr came from, for messages: "--store", "$PARTD_STORE", …
}

// The environment variables that name the store when no flag does.
const (
	envStore = "PARTD_STORE"
	envAddr  = "PARTD_ADDR"
)

// addTargetFlags registers --store, --addr, --dir, --timeout and,
// withCompress, --compress on cmd.
func addTargetFlags(cmd *cobra.Command, t *target, withCompress bool) {
	fl := cmd.Flags()
	fl.StringVar(&t.store, "store", "", "the store, by URI: mem://, file:///abs/dir, tcp://HOST:PORT, ipc://PATH; ?memory=SIZE adds a Buffer, ?compress=NAME a compression layer (default from $"+envStore+")")
	fl.StringVar(&t.addr, "addr", "", "address of a partd server: tcp://HOST:PORT or ipc://PATH (shorthand for --store; default from $"+envAddr+")")
	fl.StringVar(&t.dir, "dir", "", "directory of a store, used directly without a server: the Log that partd serve --dir wrote there (log:///abs/dir), or else a File store (file:///abs/dir)")
	t.compress = "none"
	if withCompress {
		fl.StringVar(&t.compress, "compress", "none", "compression layer over the store: none, zstd, zstd:LEVEL, snappy, zlib, zlib:LEVEL")
	}
	fl.DurationVar(&t.timeout, "timeout", client.DefaultTimeout, "with a server, how long to wait for each answer")
}

// check returns a usage error unless exactly one of --store, --addr and
// --dir is set, or none is and exactly one of $PARTD_STORE and $PARTD_ADDR
// is, and the store it names parses. Flags win over the environment.
func (t *target) check() error {
	n := 0
	for _, v := range []string{t.store, t.addr, t.dir} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return usageError{errors.New("give only one of --store (a URI), --addr (a server) and --dir (a directory)")}
	case t.store != "":
		t.from = "--store"
	case t.addr != "":
		t.from = "--addr"
	case t.dir != "":
		t.from = "--dir"
	default:
		store, addr := os.Getenv(envStore), os.Getenv(envAddr)
		switch {
		case store != "" && addr != "":
			return usageError{fmt.Errorf("both $%s and $%s are set: unset one, or give --store, --addr or --dir", envStore, envAddr)}
		case store != "":
			t.store, t.from = store, "$"+envStore
		case addr != "":
			t.addr, t.from = addr, "$"+envAddr
		default:
			return usageError{fmt.Errorf("no store: give one of --store (a URI), --addr (a server) and --dir (a directory), or set $%s or $%s", envStore, envAddr)}
		}
	}
	if strings.Contains(t.dir, "://") {
		return usageError{fmt.Errorf("--dir takes a directory path, not a URI: %q (use --store for URIs)", t.dir)}
	}
	s, err := t.spec()
	if err != nil {
		return usageError{err}
	}
	if t.changes && s.Scheme == "mem" {
		return usageError{fmt.Errorf("%s mem:// is a store in this process's memory, gone when the command exits, so nothing it changes would stay: serve it (partd serve --store mem://) and give --addr", t.from)}
	}
	return nil
}

// spec returns the store the flags name, with the --compress layer.
func (t target) spec() (storeuri.Spec, error) {
	var s storeuri.Spec
	switch {
	case t.store != "":
		var err error
		if s, err = storeuri.Parse(t.store); err != nil {
			return s, uriError{from: cmp.Or(t.from, "--store"), uri: storeuri.Redact(t.store), err: err}
		}
	case t.addr != "":
		var err error
		if s, err = storeuri.Parse(t.addr); err != nil || s.Memory > 0 || s.Compress.Algorithm != compress.None ||
			s.Scheme != "tcp" && s.Scheme != "ipc" {
			return s, fmt.Errorf("%s: want tcp://HOST:PORT or ipc://PATH, got %q", cmp.Or(t.from, "--addr"), storeuri.Redact(t.addr))
		}
	default:
		dir, err := filepath.Abs(t.dir)
		if err != nil {
			return s, fmt.Errorf("--dir: %w", err)
		}
		s = storeuri.Spec{Scheme: dirScheme(dir), Dir: dir}
	}
	setting, err := compress.Parse(t.compress)
	if err != nil {
		return s, fmt.Errorf("--compress: %w", err)
	}
	if setting.Algorithm != compress.None {
		if s.Compress.Algorithm != compress.None {
			return s, errors.New("--compress and a store URI with ?compress= both name a compression layer")
		}
		s.Compress = setting
	}
	return s, nil
}

// name is the store the flags name, as a URI with any password hidden, for
// messages.
func (t target) name() string {
	s, err := t.spec()
	if err != nil {
		return t.from
	}
	return s.Redacted()
}

// dirScheme tells what store the directory dir holds, by its marker file:
// "log" for a Log (.partd-log, as partd serve --dir writes one), else
// "file": a File store (.lock, as Python partd and File write), or where a
// command that writes creates one; opening it says what is wrong with a
// directory that holds neither.
func dirScheme(dir string) string {
	if _, err := os.Lstat(filepath.Join(dir, ".partd-log")); err == nil {
		return "log"
	}
	return "file"
}

// openRaw opens the store below any compression layer: a client of the
// server, the File store, or whatever --store names (with its Buffer).
//
// A server is dialed here, with ctx, rather than by storeuri, so that a
// signal cuts the dial short; and the client is closed when ctx is done, so
// that a call waiting for the server's answer returns at once. (The
// client's WithContext view would do the latter, but closing it does not
// close the client, and stat needs the *client.Client for the server's
// figures.)
func (t *target) openRaw(ctx context.Context) (partd.Store, error) {
	s, err := t.spec()
	if err != nil {
		return nil, usageError{err}
	}
	s.Compress = compress.Setting{}
	if s.Scheme != "tcp" && s.Scheme != "ipc" {
		return s.Open(&storeuri.Options{Existing: t.existing, Timeout: t.timeout})
	}
	c, err := client.DialContext(ctx, s.Addr, client.WithTimeout(cmp.Or(t.timeout, client.DefaultTimeout)))
	if err != nil {
		return nil, err // it names the address
	}
	context.AfterFunc(ctx, func() { c.Close() })
	if s.Memory > 0 { // as storeuri builds it
		return partd.NewBuffer(partd.NewOffHeapDict(), c, s.Memory), nil
	}
	return c, nil
}

// open opens the store with the --compress layer over it, as openRaw does.
// Closing the returned store closes the one below the layer too.
func (t *target) open(ctx context.Context) (partd.Store, error) {
	s, err := t.spec()
	if err != nil {
		return nil, usageError{err}
	}
	raw, err := t.openRaw(ctx)
	if err != nil {
		return nil, err
	}
	store, err := s.Compress.Wrap(raw)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return store, nil
}

// use opens the store (with raw, the store below any compression layer),
// runs fn on it and closes it. When ctx is done (a signal), the dial and
// the calls to a server end at once (see openRaw), and use returns the
// interruption after at most stopGrace/2 even if fn has not returned (a
// File store's call, stdin).
func (t *target) use(ctx context.Context, raw bool, fn func(s partd.Store) error) error {
	return interruptible(ctx, func() error {
		open := t.open
		if raw {
			open = t.openRaw
		}
		s, err := open(ctx)
		if err != nil {
			return err
		}
		err = fn(s)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// interruptible runs fn and returns its error. If ctx is done first, fn has
// stopGrace/2 to return, after which interruptible returns ctx's cause and
// leaves fn to the process's exit.
func interruptible(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(stopGrace / 2):
		return context.Cause(ctx)
	}
}

// policies are the write policies a server's store may spill to: a Log
// (the default: many keys and spills at disk speed) or a File (the format
// Python partd reads, and one directory many processes share).
var policies = []string{"log", "file"}

// addPolicyFlag registers --policy on cmd.
func addPolicyFlag(cmd *cobra.Command, policy *string) {
	cmd.Flags().StringVar(policy, "policy", "log", "the store under the memory buffer: log (log-structured, fastest) or file (one file per key, the format Python partd reads)")
}

// checkPolicy returns a usage error for an unknown policy.
func checkPolicy(policy string) error {
	if !slices.Contains(policies, policy) {
		return usageError{fmt.Errorf("--policy: %q is not one of %s", policy, strings.Join(policies, ", "))}
	}
	return nil
}

// newServerStore builds the store an embedded server serves: a Buffer holding
// up to memory bytes in a Dict and spilling its largest keys to a store of
// policy (log or file) in dir ("" for a temporary directory removed on
// Close), or that store alone when memory is 0. It is the store `partd
// serve` builds.
func newServerStore(policy, dir string, memory int64) (partd.Store, error) {
	return serverStoreSpec(policy, dir, memory).Open(nil)
}

// withDiskQuota puts a partd.Quota of maxDisk bytes (--max-disk) over
// store. With maxDisk 0 it still does where the store can count its disk
// (a Log, a Buffer over one), so that a full disk is partd.ErrFull, and
// leaves other stores as they are; a limit it cannot keep is an error, and
// the store is closed.
func withDiskQuota(store partd.Store, maxDisk int64) (partd.Store, error) {
	q, err := partd.NewQuota(store, maxDisk)
	switch {
	case err == nil:
		return q, nil
	case maxDisk == 0 && errors.Is(err, errors.ErrUnsupported):
		return store, nil
	}
	store.Close()
	return nil, usageError{fmt.Errorf("--max-disk: %w", err)}
}

// withAttempts puts a partd.Attempts over store where the store commits a
// batch whole (a Log, a Dict, a Buffer over them), so that the server's
// clients can append under attempts and commit them (the attempts
// extension); other stores are left as they are.
func withAttempts(store partd.Store) (partd.Store, error) {
	a, err := partd.NewAttempts(store)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, errors.ErrUnsupported):
		return store, nil
	}
	store.Close()
	return nil, err
}

// parseMaxDisk parses --max-disk: a size, 0 for no limit.
func parseMaxDisk(s string) (int64, error) {
	n, err := storeuri.ParseSize(s)
	if err != nil || n < 0 {
		return 0, usageError{fmt.Errorf("--max-disk: %q is not a size (0 for no limit): %v", s, err)}
	}
	return n, nil
}

// serverStoreSpec is the store newServerStore opens.
func serverStoreSpec(policy, dir string, memory int64) storeuri.Spec {
	return storeuri.Spec{Scheme: policy, Dir: dir, Memory: max(memory, 0)}
}

// uriError is a store URI that storeuri cannot parse, named by the flag or
// variable it came from. Its text says each thing once: storeuri's own
// prefix and the URI it quotes give way to the flag's, and a compress
// setting's error its "partd: compress:" prefix (storeuri names the
// parameter).
type uriError struct {
	from, uri string
	err       error
}

func (e uriError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), fmt.Sprintf("storeuri: %q: ", e.uri))
	msg = strings.Replace(msg, "compress: partd: compress: ", "compress: ", 1)
	return fmt.Sprintf("%s %q: %s", e.from, e.uri, msg)
}

func (e uriError) Unwrap() error { return e.err }
