package client_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serve starts a server on addr and returns it with a function that stops it.
func serve(t testing.TB, store partd.Store, addr string) (*server.Server, func()) {
	t.Helper()
	s, err := server.New(store, addr, server.WithLogger(quiet))
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			must(t, s.Close())
			must(t, <-done)
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// freePort returns a TCP port that nothing listens on right now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDialNoServer(t *testing.T) {
	start := time.Now()
	_, err := client.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)), client.WithTimeout(300*time.Millisecond))
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("Dial with no server: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Dial took %v with a 300ms timeout", d)
	}
}

func TestBadOptions(t *testing.T) {
	for _, opt := range []client.Option{client.WithTimeout(0), client.WithConns(0), client.WithCurve("x", "y", "z")} {
		if _, err := client.Dial("tcp://127.0.0.1:1", opt); err == nil {
			t.Error("bad option accepted")
		}
	}
	if _, err := client.Dial(""); err == nil {
		t.Error("empty address accepted")
	}
}

// TestServerGoneThenRestarted: calls fail within the timeout while the
// server is down and succeed again once it is back on the same address.
func TestServerGoneThenRestarted(t *testing.T) {
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	_, stop := serve(t, partd.NewDict(), addr)
	const timeout = 400 * time.Millisecond
	c, err := client.Dial(addr, client.WithTimeout(timeout), client.WithConns(2))
	must(t, err)
	defer c.Close()
	must(t, c.Append(map[string][]byte{"k": []byte("before")}))
	stop()

	for range 3 {
		start := time.Now()
		err := c.Append(map[string][]byte{"k": []byte("during")})
		if err == nil {
			t.Fatal("Append succeeded with the server down")
		}
		if !errors.Is(err, client.ErrTimeout) && !errors.Is(err, partd.ErrClosed) {
			t.Fatalf("Append with the server down: %v", err)
		}
		if d := time.Since(start); d > timeout+time.Second {
			t.Fatalf("Append took %v with a %v timeout", d, timeout)
		}
	}

	store := partd.NewDict()
	serve(t, store, addr)
	var got []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Append(map[string][]byte{"k": []byte("after")})
		if err == nil {
			vs, err := c.Get("k")
			must(t, err)
			got = vs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not recover after the restart: %v", err)
		}
	}
	// The new server's store holds "after", possibly preceded by a "during"
	// that was queued in the socket while the server was down.
	if !strings.HasSuffix(string(got), "after") || strings.Contains(string(got), "before") {
		t.Fatalf("after restart k = %q", got)
	}
}

// TestCloseWhileBusy: Close with calls in flight and waiting returns
// promptly, and every call returns.
func TestCloseWhileBusy(t *testing.T) {
	s, _ := serve(t, partd.NewDict(), "")
	c, err := client.Dial(s.Addr(), client.WithConns(2), client.WithTimeout(5*time.Second))
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16*1000)
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				err := c.Append(map[string][]byte{fmt.Sprintf("g%d", g): fmt.Appendf(nil, "%d,", i)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	must(t, c.Close())
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close and the calls took %v", d)
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, partd.ErrClosed) {
			t.Fatalf("call during Close: %v, want ErrClosed", err)
		}
	}
	if err := c.Append(map[string][]byte{"x": []byte("y")}); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := c.Get(); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Get() after Close: %v", err)
	}
	must(t, c.Close())
}

// TestNoGoroutineLeak: a server and clients, used and closed, leave no
// goroutines behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := server.New(partd.NewDict(), "", server.WithLogger(quiet))
		must(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Serve() }()
		c, err := client.Dial(s.Addr())
		must(t, err)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 20 {
					if err := c.Append(map[string][]byte{fmt.Sprint(g): {byte(i)}}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		must(t, c.Close())
		must(t, s.Close())
		must(t, <-done)
		// A server that never served.
		s2, err := server.New(partd.NewDict(), "")
		must(t, err)
		must(t, s2.Close())
		if err := s2.Serve(); !errors.Is(err, server.ErrServerClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStatAndPing(t *testing.T) {
	s, _ := serve(t, partd.NewDict(), "")
	c, err := client.Dial(s.Addr())
	must(t, err)
	defer c.Close()
	if !c.Extended() || c.Addr() != s.Addr() {
		t.Fatal("Extended or Addr wrong")
	}
	must(t, c.Ping())
	must(t, c.Append(map[string][]byte{"a": make([]byte, 1000)}))
	c.Get("a")
	st, err := c.Stat()
	must(t, err)
	if st.Requests["append"] != 1 || st.Requests["get"] != 1 || st.StoreBytes != 1000 || st.Store != "partd.Dict" || st.BytesIn < 1000 || st.BytesOut < 1000 {
		t.Fatalf("Stat = %+v", st)
	}
	if err := c.CloseServer(); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("CloseServer on a server that forbids it: %v", err)
	}
	must(t, c.Ping())
}
