package servertest_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server/servertest"
)

// TestConformanceOverServer runs the public suite over a client of a
// server that servertest started, as a store written in another module
// would test itself behind a server.
func TestConformanceOverServer(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		return servertest.Dial(t, servertest.New(t, partd.NewDict()))
	})
}

func TestLayersOverClient(t *testing.T) {
	srv := servertest.NewAt(t, partd.NewDict(), "tcp://127.0.0.1:*")
	z := compress.Zstd(servertest.Dial(t, srv))
	if err := z.Append(map[string][]byte{"k": []byte("over tcp, in zstd frames")}); err != nil {
		t.Fatal(err)
	}
	got, err := z.Get("k")
	if err != nil || string(got[0]) != "over tcp, in zstd frames" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	raw, err := servertest.Dial(t, srv).Get("k")
	if err != nil || len(raw[0]) == 0 || string(raw[0]) == "over tcp, in zstd frames" {
		t.Fatalf("the server holds %q, %v; want zstd frames", raw, err)
	}
}
