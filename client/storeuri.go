package client

import (
	"fmt"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/storeuri"
)

// The tcp:// and ipc:// schemes of package storeuri are clients of a partd
// server: this package registers them, so that a program that does not
// import it (one that opens only local stores) does not compile ZeroMQ.
func init() {
	d := storeuri.Driver{Open: openURI}
	storeuri.Register("tcp", d)
	storeuri.Register("ipc", d)
}

// openURI dials the server of a tcp:// or ipc:// Spec, with the Options'
// timeout (DefaultTimeout if 0).
func openURI(s storeuri.Spec, o storeuri.Options) (partd.Store, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c, err := Dial(s.Addr, WithTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("storeuri: connecting to %s: %w", s.Addr, err)
	}
	return c, nil
}
