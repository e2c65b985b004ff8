// Package zmtp is a small implementation of ZMTP 3.0, ZeroMQ's wire
// protocol (https://rfc.zeromq.org/spec/23/), in pure Go: what partd's
// server and client need when the binary is built without cgo, and so
// without libzmq. It speaks the NULL security mechanism only and has two
// socket types: a ROUTER that listens ([Listen]) and a DEALER that
// connects ([Dial]). Both interoperate with libzmq 4.x and pyzmq.
//
// It is written to be safe on an open port:
//
//   - Every length a peer sends is checked against a cap before anything
//     is allocated for it ([Options.MaxFrameSize], [MaxCommandSize]), and a
//     frame's buffer grows with the bytes that actually arrive, so a header
//     that claims 2^62 bytes costs nothing and closes the connection.
//   - Handshakes run concurrently, each in its connection's goroutine and
//     under its own deadline ([Options.HandshakeTimeout]): a peer that never
//     finishes its greeting blocks nobody and is dropped.
//   - Every descriptor is closed on every path that abandons its
//     connection.
//   - A PING command is answered with PONG.
//   - A ROUTER queues at most [Options.SendHWM] messages for each peer (more
//     are dropped, as libzmq's ROUTER drops them), every write has a
//     deadline ([Options.WriteTimeout]), and incoming messages wait in one
//     small shared queue: a reader that cannot hand a message over stops
//     reading, so TCP pushes back on the peer.
//   - A message larger than [Options.MaxMessageSize] is not kept whole: its
//     frames past the cap are read and dropped and it is delivered marked
//     Truncated with its full Size, so the application can refuse it.
//   - A ROUTER accepts at most [Options.MaxConns] connections at once.
//
// # Goroutines
//
// A Router or Dealer is meant to be used by one goroutine, its owner, as a
// ZeroMQ socket is; the goroutines inside it (an accept loop, and a reader
// and a writer per connection) are its own, as libzmq's I/O threads are.
// Close stops them all and waits for them.
//
// # Decoders
//
// [ParseGreeting], [ParseFrameHeader], [ParseCommand] and [ParseReady] are
// the decoders of everything a peer sends; each is fuzzed.
package zmtp
