package server_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

// A server over a Buffer that keeps up to 64 MiB in memory and spills to a
// File store, on a Unix socket in a temporary directory. Clients in any
// process dial the same address; here one does, in this process.
func Example() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	store := partd.NewBuffer(partd.NewDict(), disk, 64<<20)

	srv, err := server.New(store, "ipc://"+filepath.Join(dir, "partd.sock"),
		server.WithLogger(slog.New(slog.DiscardHandler))) // quiet, for the example
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	c, err := client.Dial(srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	c.Append(map[string][]byte{"x": []byte("Hello "), "y": []byte("123")})
	c.Append(map[string][]byte{"x": []byte("world!"), "y": []byte("456")})
	vals, err := c.Get("y", "x")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", vals[0], vals[1])

	c.Close() // the client only: the server keeps serving

	// Close finishes the requests in flight, flushes the Buffer to disk and
	// closes the store; then Serve returns.
	if err := srv.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Serve:", <-served)
	// Output:
	// 123456 Hello world!
	// Serve: <nil>
}

// New binds at once, so Addr has the port the system chose for "*" before
// Serve runs.
func ExampleNew() {
	srv, err := server.New(partd.NewDict(), "tcp://127.0.0.1:*",
		server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()

	c, err := client.Dial(srv.Addr()) // e.g. tcp://127.0.0.1:41234
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Append(map[string][]byte{"part-1": []byte("a,b")})
	keys, _ := c.Keys()
	fmt.Println(keys, c.Extended())
	// Output: [part-1] true
}

// Close stops accepting requests, lets those in flight finish, flushes the
// store and closes it: what the clients appended is on disk once Close
// returns.
func ExampleServer_Close() {
	dir, err := os.MkdirTemp("", "partd-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(partd.NewBuffer(partd.NewDict(), disk, 1<<30),
		"ipc://"+filepath.Join(dir, "partd.sock"), server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	c, err := client.Dial(srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Append(map[string][]byte{"part-7": []byte("kept")}); err != nil {
		log.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Serve:", <-served)

	reopened, err := partd.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		log.Fatal(err)
	}
	defer reopened.Close()
	v, _ := reopened.Get("part-7")
	fmt.Printf("%s\n", v[0])
	// Output:
	// Serve: <nil>
	// kept
}
