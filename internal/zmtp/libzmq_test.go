//go:build cgo

package zmtp

import (
	"bytes"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// TestLibzmqDealer: libzmq's DEALER (through pebbe/zmq4) against our
// ROUTER, with libzmq's heartbeats on: our PONGs keep the connection.
func TestLibzmqDealer(t *testing.T) {
	r := listenT(t, Options{})
	go echo(r)
	sock, err := zmq.NewSocket(zmq.DEALER)
	must(t, err)
	defer sock.Close()
	sock.SetLinger(0)
	sock.SetIdentity("lib")
	must(t, sock.SetHeartbeatIvl(20*time.Millisecond))
	must(t, sock.SetHeartbeatTimeout(2*time.Second))
	must(t, sock.Connect(r.Addr()))
	sock.SetRcvtimeo(10 * time.Second)
	big := bytes.Repeat([]byte("x"), 3<<20)
	for i := range 5 {
		_, err := sock.SendMessage("hello", "", big, i)
		must(t, err)
		got, err := sock.RecvMessageBytes(0)
		must(t, err)
		if len(got) != 4 || string(got[0]) != "hello" || len(got[1]) != 0 || !bytes.Equal(got[2], big) {
			t.Fatalf("echo of %d frames", len(got))
		}
		time.Sleep(100 * time.Millisecond) // heartbeats go both ways meanwhile
	}
	if st := r.Stats(); st.Peers != 1 || st.FailedHandshakes != 0 {
		t.Fatalf("heartbeats dropped the connection: %+v", st)
	}
}

// TestLibzmqRouter: our DEALER against libzmq's ROUTER.
func TestLibzmqRouter(t *testing.T) {
	sock, err := zmq.NewSocket(zmq.ROUTER)
	must(t, err)
	defer sock.Close()
	sock.SetLinger(0)
	must(t, sock.SetHeartbeatIvl(20*time.Millisecond))
	must(t, sock.SetHeartbeatTimeout(2*time.Second))
	must(t, sock.Bind("tcp://127.0.0.1:*"))
	addr, err := sock.GetLastEndpoint()
	must(t, err)
	sock.SetRcvtimeo(10 * time.Second)
	d := dial(t, addr, Options{Identity: []byte("ours")})
	big := bytes.Repeat([]byte("y"), 1<<20)
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("a"), nil, big}))
	got, err := sock.RecvMessageBytes(0)
	must(t, err)
	if len(got) != 4 || string(got[0]) != "ours" || string(got[1]) != "a" || len(got[2]) != 0 || !bytes.Equal(got[3], big) {
		t.Fatalf("libzmq ROUTER got %d frames, id %q", len(got), got[0])
	}
	_, err = sock.SendMessage("ours", "re", big)
	must(t, err)
	m, err := d.Recv(nil, nil, soon())
	must(t, err)
	if len(m) != 2 || string(m[0]) != "re" || !bytes.Equal(m[1], big) {
		t.Fatalf("our DEALER got %d frames", len(m))
	}
	time.Sleep(200 * time.Millisecond) // libzmq's PINGs are answered
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("b")}))
	if got, err = sock.RecvMessageBytes(0); err != nil || string(got[1]) != "b" {
		t.Fatalf("%q %v", got, err)
	}
}
