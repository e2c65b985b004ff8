// Package server serves a partd.Store over ZeroMQ, so many processes share
// one store. It speaks Python partd 1.3's protocol (a Python
// partd.zmq.Client works against it) plus a Go dialect with request ids,
// error replies and the keys and stat extensions; package wire documents
// both, and package client is the Go client.
//
//	s, err := server.New(partd.NewDict(), "tcp://127.0.0.1:*")
//	...
//	go s.Serve()
//	fmt.Println(s.Addr()) // tcp://127.0.0.1:41234
//	...
//	s.Close() // stop accepting, finish in-flight requests, flush and close the store
//
// # Safety
//
// Every key is checked with partd.ValidateKey before the store sees it, so no
// key can name a path outside a File store. A request larger than the
// message cap ([WithMaxMessageSize]) is answered with an error, and a single
// frame larger than the cap makes libzmq drop that peer's connection
// (ZMQ_MAXMSGSIZE). A malformed request is answered with an error reply and
// never stops the server. The server binds to loopback unless given another
// address, refuses a remote "close" unless [WithRemoteClose] allows it, and
// can require CURVE encryption with a list of allowed client keys
// ([WithCurve]).
//
// # Goroutines and sockets
//
// Each ZeroMQ socket has exactly one owner goroutine:
//
//   - The goroutine running [Server.Serve] (the owner) owns the ROUTER socket
//     and the inproc PULL "wake-up" socket. It only does I/O: it reads
//     requests, hands them to workers through a channel, and sends replies.
//     (New creates both sockets; ownership passes to Serve when it starts, or
//     back to Close if Serve never runs.)
//   - Worker goroutines (WithWorkers, default 2×GOMAXPROCS, at least 4) run
//     the store operations concurrently. Each owns one inproc PUSH socket on
//     which it wakes the owner after queueing a reply in Server.replies.
//   - Close creates, uses and closes one short-lived PUSH socket of its own to
//     wake the owner.
//
// Requests of one peer (one DEALER identity) are worked on one at a time, in
// the order received; requests of different peers run concurrently.
//
// # Locks
//
// Server.mu guards the lifecycle flags; Server.repliesMu guards the reply
// queue. Neither is held while the other is taken, nor across a store call
// or a socket call. The store's own locks are taken only by workers.
// The CURVE authenticator (zmq4.AuthStart) is process-global: authMu guards
// its reference count, and every CURVE server in the process shares it, each
// with its own ZAP domain and list of allowed keys.
package server
