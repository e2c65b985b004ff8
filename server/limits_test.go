package server_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server"
)

// TestMaxMessageSizeRange: New refuses a cap it cannot keep (below 1 KiB,
// or above 1 TiB, where 4000000TiB once overflowed the server's count of
// pending bytes so that it never read a request), and a server with the
// largest cap serves.
func TestMaxMessageSizeRange(t *testing.T) {
	for _, n := range []int64{-1, 0, server.MinMaxMessageSize - 1, server.MaxMaxMessageSize + 1, 4000000 << 40, 1<<63 - 1} {
		if s, err := server.New(partd.NewDict(), "", server.WithMaxMessageSize(n)); err == nil {
			s.Close()
			t.Errorf("New with a max message size of %d: no error", n)
		}
	}
	for _, n := range []int64{server.MinMaxMessageSize, server.MaxMaxMessageSize} {
		s := startServer(t, partd.NewDict(), "", server.WithMaxMessageSize(n), server.WithLogger(quiet))
		c := dial(t, s.Addr())
		must(t, c.Append(map[string][]byte{"k": []byte("v")}))
		if vs := mustGet(t, c, "k"); string(vs[0]) != "v" {
			t.Fatalf("cap %d: got %q", n, vs[0])
		}
	}
}
