package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/encode"
	"github.com/gopartd/partd/server"
)

// startServer starts a partd server over store on a Unix socket in dir and
// returns it with a function that stops it (flushing and closing the store)
// and waits for Serve to return.
func startServer(store partd.Store, dir string) (*server.Server, func()) {
	srv, err := server.New(store, "ipc://"+filepath.Join(dir, "partd.sock"),
		server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	return srv, func() {
		if err := srv.Close(); err != nil {
			log.Fatal(err)
		}
		if err := <-served; err != nil {
			log.Fatal(err)
		}
	}
}

// Dial a server (here one over a Buffer of a Dict and a File, started in
// this process) and use the client as any partd.Store.
func ExampleDial() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	srv, stop := startServer(partd.NewBuffer(partd.NewDict(), disk, 64<<20), dir)
	defer stop()

	c, err := client.Dial(srv.Addr(), client.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // the client only; stop closes the server and its store

	// Append returns once the server has applied the append.
	if err := c.Append(map[string][]byte{"x": []byte("Hello "), "y": []byte("123")}); err != nil {
		log.Fatal(err)
	}
	if err := c.Append(map[string][]byte{"x": []byte("world!"), "y": []byte("456")}); err != nil {
		log.Fatal(err)
	}
	vals, err := c.Get("y", "x", "missing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %q\n", vals[0], vals[1], vals[2])
	keys, _ := c.Keys()
	fmt.Println(keys)
	// Output:
	// 123456 Hello world! ""
	// [x y]
}

// Row is a record of a shuffle.
type Row struct {
	ID   int64
	Name string
}

// Layers nest over a client as over any store: typed rows, encoded with
// msgpack, compressed with zstd in this process, sent to a server that keeps
// them in a Buffer over a File. Closing the outermost layer closes the
// client, not the server.
func Example_composition() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	srv, stop := startServer(partd.NewBuffer(partd.NewDict(), disk, 64<<20), dir)
	defer stop()

	c, err := client.Dial(srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	rows := encode.Msgpack[Row](compress.Zstd(c))
	defer rows.Close() // closes the zstd layer and the client

	rows.Append(map[string][]Row{"part-7": {{1, "ada"}, {2, "bo"}}})
	rows.Append(map[string][]Row{"part-7": {{3, "cy"}}, "part-9": {{4, "di"}}})
	got, err := rows.Get("part-7", "part-9")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got[0], got[1])
	// Output: [{1 ada} {2 bo} {3 cy}] [{4 di}]
}

// One Client is safe for many goroutines; up to WithConns calls are in
// flight at once.
func ExampleWithConns() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, stop := startServer(partd.NewDict(), dir)
	defer stop()

	c, err := client.Dial(srv.Addr(), client.WithConns(4))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 100 {
				if err := c.Append(map[string][]byte{"all": {byte('a' + w)}}); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	v, _ := c.Get("all")
	fmt.Println(len(v[0]))
	// Output: 800
}

// A view bound to a context ends its calls when the context does, through
// any layers stacked on it, and leaves the client usable. Here a request
// handler's context is cancelled (the caller went away) before a read.
func ExampleClient_WithContext() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, stop := startServer(partd.NewDict(), dir)
	defer stop()

	c, err := client.Dial(srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	z := compress.Zstd(c.WithContext(ctx)) // closing z closes the view, not c
	defer z.Close()
	if err := z.Append(map[string][]byte{"report": []byte("quarterly figures")}); err != nil {
		log.Fatal(err)
	}
	cancel()
	_, err = z.Get("report")
	fmt.Println(errors.Is(err, context.Canceled))

	// The client itself goes on: a fresh context, or none.
	v, err := compress.Zstd(c.WithContext(context.Background())).Get("report")
	fmt.Printf("%s %v\n", v[0], err)
	// Output:
	// true
	// quarterly figures <nil>
}
