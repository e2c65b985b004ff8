//go:build !cgo || partd_purego

package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

// TestCurveRefused: the pure-Go build has no CURVE, and says so rather
// than serving (or dialling) without it.
func TestCurveRefused(t *testing.T) {
	const key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	_, err := server.New(partd.NewDict(), "", server.WithCurve(key, "*"))
	if !errors.Is(err, server.ErrCurveUnsupported) || !strings.Contains(err.Error(), "cgo") {
		t.Fatalf("server.WithCurve in the pure-Go build: %v", err)
	}
	_, err = client.Dial("tcp://127.0.0.1:1", client.WithCurve(key, key, key))
	if !errors.Is(err, client.ErrCurveUnsupported) || !strings.Contains(err.Error(), "cgo") {
		t.Fatalf("client.WithCurve in the pure-Go build: %v", err)
	}
	if server.Transport != "zmtp" || client.Transport != "zmtp" {
		t.Fatalf("transports %s, %s", server.Transport, client.Transport)
	}
}
