package server_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/storetest"
)

// TestConformance runs the Store conformance suite on a Go client talking
// to a Go server over TCP loopback and over ipc://.
func TestConformance(t *testing.T) {
	for _, tr := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"tcp", func(t *testing.T) string { return "tcp://127.0.0.1:*" }},
		{"ipc", func(t *testing.T) string { return ipcAddr(t) }},
	} {
		t.Run(tr.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) partd.Store {
				s := startServer(t, partd.NewDict(), tr.addr(t))
				return dial(t, s.Addr())
			})
		})
	}
}
