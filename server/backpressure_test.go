package server_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/server/servertest"
)

// slowStore is a store that cannot keep up: each Append takes delay, as a
// Buffer that must spill to a slow disk does. It counts the Appends under
// way at once.
type slowStore struct {
	partd.Store
	delay         time.Duration
	running, peak atomic.Int64
	sent          atomic.Int64
}

func (s *slowStore) Append(data map[string][]byte) error {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(s.delay)
	return s.Store.Append(data)
}

// TestBackpressure: clients append much faster than the store takes it.
// The server works on at most its workers' worth of requests at once (it
// stops reading past its bound, and the senders wait); every append that
// waited within the client's timeout is stored, exactly once; past the
// timeout a client gets client.ErrTimeout, a typed error it may retry,
// and the server then goes on serving.
func TestBackpressure(t *testing.T) {
	store := &slowStore{Store: partd.NewDict(), delay: 20 * time.Millisecond}
	srv := servertest.New(t, store, server.WithWorkers(2), server.WithMaxMessageSize(1<<20))
	value := make([]byte, 256<<10)

	// Patient clients: every append waits its turn and lands.
	var wg sync.WaitGroup
	const clients, each = 4, 10
	for c := range clients {
		cl, err := client.Dial(srv.Addr(), client.WithTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for g := range 4 {
			wg.Go(func() {
				for i := range each {
					if err := cl.Append(map[string][]byte{"k": value}); err != nil {
						t.Errorf("client %d goroutine %d append %d: %v", c, g, i, err)
						return
					}
					store.sent.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if p := store.peak.Load(); p > 2 {
		t.Errorf("%d Appends ran at once in the store, want at most the server's 2 workers", p)
	}
	vals, err := store.Get("k")
	if err != nil || int64(len(vals[0])) != store.sent.Load()*int64(len(value)) || store.sent.Load() != clients*4*each {
		t.Fatalf("k holds %d bytes after %d acknowledged appends of %d: %v", len(vals[0]), store.sent.Load(), len(value), err)
	}

	// An impatient client, past the bound: a typed, retryable error.
	slow := &slowStore{Store: partd.NewDict(), delay: 300 * time.Millisecond}
	srv2 := servertest.New(t, slow, server.WithWorkers(1))
	cl, err := client.Dial(srv2.Addr(), client.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.Append(map[string][]byte{"k": []byte("x")})
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("an append past the client's timeout: %v, want client.ErrTimeout", err)
	}
	time.Sleep(400 * time.Millisecond) // the store finishes the first
	patient, err := client.Dial(srv2.Addr(), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	if err := patient.Append(map[string][]byte{"k": []byte("y")}); err != nil {
		t.Fatalf("the retry: %v", err)
	}
}
