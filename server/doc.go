// Package server serves a partd.Store over ZeroMQ, so many processes share
// one store. It speaks Python partd 1.3's protocol (a Python
// partd.zmq.Client works against it) plus a Go dialect with request ids,
// error replies and the keys, stat, sizes, list and pop extensions; package wire documents
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
// # Builds
//
// With cgo (the default where a C compiler is found) the server speaks
// ZeroMQ through libzmq (pebbe/zmq4). Built with CGO_ENABLED=0 it speaks
// it through internal/zmtp, a ZMTP 3.0 implementation of this module in
// pure Go (NULL security, ROUTER and DEALER): the binary needs no libzmq
// and cross-compiles; [Transport] says which one a binary has. Both
// interoperate with libzmq's and pyzmq's peers and pass the same tests,
// raw ZMTP attacks included. The pure-Go one checks every length a peer
// sends against the cap before it allocates anything (a single frame over
// the cap, or a message over it frame by frame, is never held whole: what
// is past the cap is read and dropped), runs each handshake under its own
// 10-second deadline, concurrently, queues at most 1,000 replies for a
// peer (as libzmq's ROUTER, it drops the rest) and bounds each write to a
// peer by 30 seconds. It has no CURVE: [WithCurve] is an error there
// (ErrCurveUnsupported in that build), and a peer that asks for CURVE
// or PLAIN is refused at its greeting.
//
// # Goroutines and sockets
//
// Each ZeroMQ socket has exactly one owner goroutine (the sockets below are
// libzmq's; the pure-Go build has the same owner, with Go channels in place
// of the inproc wake-up sockets and its connections' goroutines inside the
// ROUTER, as libzmq's I/O threads are inside libzmq):
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
// # Memory
//
// The server stops reading requests while the requests it has read and not
// yet answered add up to more than four message caps or 4×workers requests,
// so ZeroMQ's queues and then TCP push back on clients. Each peer may have
// at most 16 requests waiting behind the one being worked on; more are
// answered with a "busy" error.
//
// Of a request over the cap the server keeps at most one cap, and then
// gives the memory it read the rest into back to the system. libzmq,
// below it, holds each message whole until its last frame has arrived and
// checks the cap against each frame only: a message of many frames, each
// under the cap, is in memory in full while it arrives, whatever its size
// (see [WithMaxMessageSize]).
//
// # CURVE
//
// With [WithCurve] the server answers ZAP requests (RFC 27) itself, in the
// owner goroutine, on a REP socket bound to inproc://zeromq.zap.01 inside the
// server's own ZeroMQ context. It does not use zmq4.AuthStart: that
// authenticator is process-global (one handler for the default context, whose
// key lists are unsynchronized globals) and panics on a malformed ZAP request.
// Each server having its own context, servers in one process keep separate
// key lists and nothing process-global is touched. The price is that a
// server's context must not be shared: inproc endpoints of the server are not
// reachable from sockets of other contexts.
//
// # Locks
//
// Server.mu guards the lifecycle flags, Server.ctxMu guards terminating the
// ZeroMQ context against Close creating its wake-up socket, and
// Server.repliesMu guards the reply queue. None of them is held while another
// is taken, nor across a store call; only ctxMu is held across socket calls
// (creating, using and closing Close's wake-up socket, or terminating the
// context). The store's own locks are taken only by workers and by the final
// Flush and Close.
package server
