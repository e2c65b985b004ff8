package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/zmtp"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/server/servertest"
	"github.com/gopartd/partd/server/wire"
)

// TestSizesSendNoValues: Sizes of a 16 MiB key is one small request and a
// small answer (what partd stat --addr needs), where Get moves the 16 MiB.
func TestSizesSendNoValues(t *testing.T) {
	srv := servertest.NewAt(t, partd.NewDict(), "tcp://127.0.0.1:*")
	c := servertest.Dial(t, srv)
	big := bytes.Repeat([]byte("x"), 16<<20)
	must(t, c.Append(map[string][]byte{"big": big, "df/small": []byte("12345")}))
	before := srv.Stats().BytesOut
	sizes, err := c.Sizes("big", "df/small", "missing", "df")
	must(t, err)
	if !slices.Equal(sizes, []int64{16 << 20, 5, 0, 0}) {
		t.Fatalf("Sizes = %v", sizes)
	}
	if sent := srv.Stats().BytesOut - before; sent > 1<<10 {
		t.Fatalf("Sizes made the server send %d bytes", sent)
	}
	if sizes, err := partd.Sizes(c, "big"); err != nil || sizes[0] != 16<<20 {
		t.Fatalf("partd.Sizes = %v, %v", sizes, err)
	}
	if st := srv.Stats(); st.Requests[wire.CmdSizes] != 2 || st.Requests[wire.CmdGet] != 0 {
		t.Fatalf("requests = %v, want 2 sizes and no get", st.Requests)
	}
	if _, err := c.Sizes("../bad"); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Sizes of an invalid key: %v, want ErrInvalidKey", err)
	}
}

// TestListInPages: All over a client asks the server for one page per
// request, and KeysPrefix is one request.
func TestListInPages(t *testing.T) {
	srv := servertest.New(t, partd.NewDict())
	c := servertest.Dial(t, srv)
	batch := make(map[string][]byte)
	const n = 70000
	for i := range n {
		batch[fmt.Sprintf("t/%06d", i)] = []byte{1}
	}
	batch["u/1"] = []byte{1}
	must(t, c.Append(batch))
	i := 0
	for k, err := range partd.All(c, "t/") {
		must(t, err)
		if want := fmt.Sprintf("t/%06d", i); k != want {
			t.Fatalf("key %d = %q, want %q", i, k, want)
		}
		i++
	}
	if i != n {
		t.Fatalf("All yielded %d keys, want %d", i, n)
	}
	if got := srv.Stats().Requests[wire.CmdList]; got != 5 {
		t.Fatalf("All made %d list requests, want 5 pages", got)
	}
	keys, err := c.KeysPrefix("u/")
	must(t, err)
	if !slices.Equal(keys, []string{"u/1"}) {
		t.Fatalf("KeysPrefix = %q", keys)
	}
	// A page larger than the wire allows is asked for in several requests.
	before := srv.Stats().Requests[wire.CmdList]
	page, err := c.KeysPage("", "", wire.MaxListPage+10)
	must(t, err)
	if len(page) != wire.MaxListPage+10 || page[0] != "t/000000" || !slices.IsSorted(page) {
		t.Fatalf("KeysPage of %d: %d keys from %q", wire.MaxListPage+10, len(page), page[0])
	}
	if got := srv.Stats().Requests[wire.CmdList] - before; got != 2 {
		t.Fatalf("a page of %d keys took %d requests, want 2", len(page), got)
	}
}

// blocking is a Dict whose Get of "slow" waits until release is closed.
type blocking struct {
	*partd.Dict
	release chan struct{}
}

func (b *blocking) Get(keys ...string) ([][]byte, error) {
	if slices.Contains(keys, "slow") {
		<-b.release
	}
	return b.Dict.Get(keys...)
}

// TestWithContextCancels: a call whose context is cancelled, or whose
// deadline passes, returns the context's error promptly while the server
// still works on it, and the client serves other calls meanwhile and
// after.
func TestWithContextCancels(t *testing.T) {
	store := &blocking{Dict: partd.NewDict(), release: make(chan struct{})}
	srv := servertest.New(t, store)
	defer close(store.release)
	c := servertest.Dial(t, srv, client.WithTimeout(30*time.Second))
	must(t, c.Append(map[string][]byte{"fast": []byte("ok")}))

	ctx, cancel := context.WithCancel(context.Background())
	view := c.WithContext(ctx)
	done := make(chan error, 1)
	go func() { _, err := view.Get("slow"); done <- err }()
	time.Sleep(100 * time.Millisecond)
	// The client answers other calls while one is stuck.
	if v, err := c.Get("fast"); err != nil || string(v[0]) != "ok" {
		t.Fatalf("Get beside a stuck call = %q, %v", v, err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Get: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("cancelled Get returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled Get did not return")
	}
	// Later calls on the view fail at once; the client goes on.
	if err := view.Append(map[string][]byte{"x": []byte("y")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append on a cancelled view: %v", err)
	}
	if v, err := c.Get("fast"); err != nil || string(v[0]) != "ok" {
		t.Fatalf("Get after a cancelled call = %q, %v", v, err)
	}

	// A deadline, through a compression layer.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	z := compress.Zstd(c.WithContext(ctx))
	start = time.Now()
	if _, err := z.Get("slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past its deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Get with a 200ms deadline took %v", d)
	}
	must(t, z.Close()) // closes the view only
	if _, err := z.Get("fast"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Get after closing the layer: %v", err)
	}
	if v, err := c.Get("fast"); err != nil || string(v[0]) != "ok" {
		t.Fatalf("the client after closing a view over it: %q, %v", v, err)
	}
}

// TestWithContextServerGone: once the server is gone, a call bound to a
// short deadline returns at that deadline, not at the client's timeout.
func TestWithContextServerGone(t *testing.T) {
	s, stop := serve(t, partd.NewDict(), "")
	c, err := client.Dial(s.Addr(), client.WithTimeout(30*time.Second))
	must(t, err)
	defer c.Close()
	stop()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		start := time.Now()
		_, err := c.WithContext(ctx).Get("k")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, partd.ErrClosed) {
			t.Fatalf("Get with the server gone: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Get with a 150ms deadline and the server gone took %v", d)
		}
	}
}

// TestDialNothingListens: Dial of an address where nothing listens fails
// within about a second, whatever the timeout, and says so.
func TestDialNothingListens(t *testing.T) {
	for _, addr := range []string{
		fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)),
		"ipc://" + t.TempDir() + "/none.sock",
	} {
		start := time.Now()
		_, err := client.Dial(addr) // the default timeout, 30s
		if err == nil || !strings.Contains(err.Error(), "no partd server answered at "+addr) || !errors.Is(err, client.ErrTimeout) {
			t.Fatalf("Dial %s: %v", addr, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Dial %s took %v", addr, d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.DialContext(ctx, "tcp://127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext with a cancelled context: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := client.DialContext(ctx, fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialContext past its deadline: %v", err)
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Fatalf("DialContext with a 100ms deadline took %v", d)
	}
}

// TestDialBusyServer: a server that accepts the connection but answers the
// handshake only after more than a second (its one worker is busy) is
// dialled all the same: the short wait covers the connection only.
func TestDialBusyServer(t *testing.T) {
	store := &blocking{Dict: partd.NewDict(), release: make(chan struct{})}
	srv := servertest.New(t, store, server.WithWorkers(1))
	c := servertest.Dial(t, srv)
	go c.Get("slow") // occupies the only worker
	time.Sleep(100 * time.Millisecond)
	time.AfterFunc(1500*time.Millisecond, func() { close(store.release) })
	start := time.Now()
	c2, err := client.Dial(srv.Addr(), client.WithTimeout(10*time.Second))
	must(t, err)
	defer c2.Close()
	if d := time.Since(start); d < time.Second {
		t.Logf("the handshake came after %v: the worker was not busy for long", d)
	}
}

// TestViewConformance runs the conformance suite on context-bound views,
// bare and under a compression layer.
func TestViewConformance(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Run("view", func(t *testing.T) {
		partdtest.Run(t, func(t *testing.T) partd.Store {
			return servertest.Dial(t, servertest.New(t, partd.NewDict())).WithContext(ctx)
		})
	})
	t.Run("zstd-over-view", func(t *testing.T) {
		partdtest.Run(t, func(t *testing.T) partd.Store {
			return compress.Zstd(servertest.Dial(t, servertest.New(t, partd.NewDict())).WithContext(ctx))
		})
	})
}

// oldServer is a server of the Go dialect that predates the sizes, list
// and pop extensions: it answers them "unknown command", as a partd server
// before them did. Its ROUTER is internal/zmtp's, in both builds (so the
// libzmq build's client talks to it too).
func oldServer(t *testing.T) string {
	t.Helper()
	sock, err := zmtp.Listen("tcp://127.0.0.1:*", zmtp.Options{})
	must(t, err)
	addr := sock.Addr()
	store := partd.NewDict()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer sock.Close()
		for {
			var m zmtp.Msg
			select {
			case <-quit:
				return
			case m = <-sock.Incoming():
			}
			if len(m.Frames) < 1 {
				continue
			}
			peer, req := m.Peer, m.Frames
			if string(req[0]) == wire.CmdSyn {
				sock.Send(peer, [][]byte{[]byte(wire.Ack), []byte(wire.Version), []byte(strconv.Itoa(1 << 20))})
				continue
			}
			if len(req) < 3 {
				continue
			}
			id, cmd := req[1], string(req[2])
			var items [][]byte
			if len(req) > 3 {
				items, _ = wire.Unpack(req[3], 1<<20)
			}
			keys := make([]string, len(items))
			for i, it := range items {
				keys[i] = string(it)
			}
			reply := [][]byte{id, []byte(wire.StatusOK)}
			switch cmd {
			case wire.CmdAppend:
				data := map[string][]byte{}
				for i := 0; i+1 < len(items); i += 2 {
					data[string(items[i])] = items[i+1]
				}
				store.Append(data)
			case wire.CmdGet:
				vals, _ := store.Get(keys...)
				reply = append(reply, vals...)
			case wire.CmdDelete:
				store.Delete(keys...)
			case wire.CmdKeys:
				all, _ := store.Keys()
				for _, k := range all {
					reply = append(reply, []byte(k))
				}
			default:
				reply = [][]byte{id, []byte(wire.StatusErr), []byte(wire.CodeBadRequest), []byte("unknown command " + strconv.Quote(cmd))}
			}
			sock.Send(peer, reply)
		}
	})
	t.Cleanup(func() { close(quit); wg.Wait() })
	return addr
}

// TestOldServerFallback: against a server without the extensions, the
// client's capabilities report errors.ErrUnsupported and the helpers of
// package partd fall back to get, keys and delete.
func TestOldServerFallback(t *testing.T) {
	c, err := client.Dial(oldServer(t), client.WithTimeout(5*time.Second))
	must(t, err)
	defer c.Close()
	must(t, c.Append(map[string][]byte{"df/a": []byte("123"), "df/b": []byte("4"), "e": []byte("5")}))
	if _, err := c.Sizes("df/a"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Sizes on an old server: %v, want ErrUnsupported", err)
	}
	if sizes, err := partd.Sizes(c, "df/a", "nope"); err != nil || !slices.Equal(sizes, []int64{3, 0}) {
		t.Fatalf("partd.Sizes on an old server = %v, %v", sizes, err)
	}
	if keys, err := partd.KeysPrefix(c, "df/"); err != nil || !slices.Equal(keys, []string{"df/a", "df/b"}) {
		t.Fatalf("partd.KeysPrefix on an old server = %q, %v", keys, err)
	}
	var all []string
	for k, err := range partd.All(c, "") {
		must(t, err)
		all = append(all, k)
	}
	if !slices.Equal(all, []string{"df/a", "df/b", "e"}) {
		t.Fatalf("partd.All on an old server = %q", all)
	}
	vals, err := partd.Pop(c, "df/a")
	if err != nil || string(vals[0]) != "123" {
		t.Fatalf("partd.Pop on an old server = %q, %v", vals, err)
	}
	if keys, _ := c.Keys(); !slices.Equal(keys, []string{"df/b", "e"}) {
		t.Fatalf("after Pop: %q", keys)
	}
}
