// Package redistest starts real redis-server processes for tests: one node,
// or a Redis Cluster of masters with replicas, on free loopback ports with
// their files in a directory the caller gives (a t.TempDir()), and stops
// them when the test ends. Persistence is off.
//
// It needs Debian's redis-server and redis-tools (scripts/deps.sh installs
// them). Without them the helpers fail the test, with a message saying so:
// they never skip it.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotInstalled is returned when redis-server or redis-cli is missing.
var ErrNotInstalled = errors.New("redistest: redis-server or redis-cli not found in PATH: run scripts/deps.sh (Debian's redis-server and redis-tools)")

// startTimeout bounds how long a server takes to answer PING.
const startTimeout = 15 * time.Second

// Server is a redis-server process listening on 127.0.0.1.
type Server struct {
	Addr string // host:port
	Dir  string // its working directory, where its log is

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu      sync.Mutex
	stopped bool
}

// Start starts redis-server in dir on a free loopback port, with
// persistence off and args (such as "--proto-max-bulk-len", "1mb") added,
// and waits until it answers PING.
func Start(dir string, args ...string) (*Server, error) {
	return start(dir, func() []string { return args })
}

// start starts a server with the arguments extra returns, asked anew for
// each attempt (a cluster node's bus port is picked per attempt too).
func start(dir string, extra func() []string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	var lastErr error
	for range 5 { // another process may take the port we picked
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		log := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")
		argv := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", log,
		}
		argv = append(argv, extra()...)
		cmd := exec.Command(bin, argv...)
		cmd.Dir = dir
		setDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("redistest: starting redis-server: %w", err)
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, cmd: cmd, done: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			close(s.done)
		}()
		if lastErr = s.waitReady(); lastErr == nil {
			return s, nil
		}
		s.Stop()
		b, _ := os.ReadFile(log)
		if !strings.Contains(string(b), "in use") {
			return nil, fmt.Errorf("%w\n%s", lastErr, tail(b))
		}
	}
	return nil, lastErr
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (s *Server) waitReady() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("redistest: redis-server on %s exited at start", s.Addr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server on %s not ready after %v: %w", s.Addr, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: nothing is saved) and waits for it to
// exit. A second Stop does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	resume(s.cmd.Process) // a paused process dies only once resumed on some systems
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *Server) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// Pause stops the process (SIGSTOP) without closing its connections, as a
// hung node: clients wait for answers that do not come. Resume or Stop
// ends it.
func (s *Server) Pause() error { return pause(s.cmd.Process) }

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() error { return resume(s.cmd.Process) }

// WaitMaster waits until the server reports role:master, as a replica
// does once promoted.
func (s *Server) WaitMaster(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := c.Info(ctx, "replication").Result()
		cancel()
		if err == nil && strings.Contains(info, "role:master") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: %s not master after %v (%v)", s.Addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a client of the server; the caller closes it.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr})
}

// Log returns the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis-"+s.Addr[strings.LastIndexByte(s.Addr, ':')+1:]+".log"))
	return string(b)
}

// NewServer starts a server in t.TempDir() with args added (see Start) and
// stops it when the test ends. It fails the test if redis-server is missing.
func NewServer(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartReplica starts a replica of the server at master (a standalone
// server, not a cluster node) in dir, with args added (see Start), and
// waits until its link to the master is up and the master lists it
// online. It sets the master's repl-diskless-sync-delay to 0, so that the
// replica syncs at once.
func StartReplica(dir, master string, args ...string) (*Server, error) {
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		return nil, fmt.Errorf("redistest: master %q: %w", master, err)
	}
	// The master starts a diskless sync 5 s after a replica asks, by
	// default, in case others ask too: have it start at once.
	m := redis.NewClient(&redis.Options{Addr: master, DialTimeout: time.Second, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = m.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err()
	cancel()
	m.Close()
	if err != nil {
		return nil, fmt.Errorf("redistest: master %s: %w", master, err)
	}
	s, err := Start(dir, append([]string{"--replicaof", host, port}, args...)...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := replicaOnline(master, s.Addr)
		if err == nil {
			err = replicasAck(master)
		}
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redistest: replica %s of %s not in sync after %v: %w", s.Addr, master, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replicaOnline returns nil if the replica at addr has its link to its
// master up and the master at master lists it online.
func replicaOnline(master, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer r.Close()
	info, err := r.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return errors.New("link to the master down")
	}
	m := redis.NewClient(&redis.Options{Addr: master, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer m.Close()
	if info, err = m.Info(ctx, "replication").Result(); err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	for l := range strings.Lines(info) {
		if strings.HasPrefix(l, "slave") && strings.Contains(l, ",port="+port+",") && strings.Contains(l, "state=online") {
			return nil
		}
	}
	return errors.New("not online at the master")
}

// replicasAck returns nil if the server at addr is not a master, has no
// replica online, or has a write of its own acknowledged by every replica
// online within 100 ms (WAIT). A replica is listed online a moment before
// its master sends it the stream of writes: until then, a WAIT times out.
// The write is a key "redistest:probe:N" that expires within 2 s, N the
// first number whose key the node holds (a cluster node answers MOVED for
// the others).
func replicasAck(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if !strings.Contains(info, "role:master") {
		return nil
	}
	n := 0
	for l := range strings.Lines(info) {
		if strings.HasPrefix(l, "slave") && strings.Contains(l, "state=online") {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	conn := c.Conn() // WAIT counts what its own connection wrote
	defer conn.Close()
	for i := 0; ; i++ {
		err := conn.Set(ctx, "redistest:probe:"+strconv.Itoa(i), "1", 2*time.Second).Err()
		if redis.HasErrorPrefix(err, "MOVED") && i < 1000 {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		break
	}
	acked, err := conn.Wait(ctx, n, 100*time.Millisecond).Result()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if int(acked) < n {
		return fmt.Errorf("%s: a write acknowledged by %d of its %d replicas", addr, acked, n)
	}
	return nil
}

// NewReplica starts a replica of master in t.TempDir() (see StartReplica)
// and stops it when the test ends.
func NewReplica(t testing.TB, master *Server, args ...string) *Server {
	t.Helper()
	s, err := StartReplica(t.TempDir(), master.Addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Cluster is a Redis Cluster of servers on loopback ports.
type Cluster struct {
	Nodes []*Server
}

// NodeTimeout is the cluster-node-timeout of a Cluster's nodes: a master
// down that long is failed over to its replica.
const NodeTimeout = time.Second

// StartCluster starts masters*(1+replicas) cluster nodes in subdirectories
// of dir, with args added to each, joins them with redis-cli --cluster
// create, and waits until every node reports cluster_state:ok and every
// replica is in sync. Replicas sync at once (repl-diskless-sync-delay 0).
func StartCluster(dir string, masters, replicas int, args ...string) (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, ErrNotInstalled
	}
	c := &Cluster{}
	for i := range masters * (1 + replicas) {
		sub := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		s, err := start(sub, func() []string {
			bus, _ := freePort()
			return append([]string{
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout.Milliseconds())),
				"--cluster-port", strconv.Itoa(bus),
				"--repl-diskless-sync-delay", "0", // a replica syncs at once, not after 5 s
			}, args...)
		})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	argv := append([]string{"--cluster", "create"}, c.Addrs()...)
	argv = append(argv, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, argv...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.WaitHealthy(time.Minute); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// NewCluster starts a cluster in t.TempDir() (see StartCluster) and stops
// it when the test ends. It fails the test if Redis is missing.
func NewCluster(t testing.TB, masters, replicas int, args ...string) *Cluster {
	t.Helper()
	c, err := StartCluster(t.TempDir(), masters, replicas, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Addrs returns the addresses of the nodes.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr
	}
	return addrs
}

// Node returns the node at addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// ReplicasOf returns the nodes that are replicas of the master at addr,
// as each node's INFO replication says.
func (c *Cluster) ReplicasOf(addr string) ([]*Server, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("redistest: %q: %w", addr, err)
	}
	var out []*Server
	for _, s := range c.Nodes {
		if s.Addr == addr || s.isStopped() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := cl.Info(ctx, "replication").Result()
		cancel()
		cl.Close()
		if err != nil {
			return nil, fmt.Errorf("redistest: %s: %w", s.Addr, err)
		}
		if strings.Contains(info, "role:slave") && strings.Contains(info, "master_host:"+host+"\r\n") &&
			strings.Contains(info, "master_port:"+port+"\r\n") {
			out = append(out, s)
		}
	}
	return out, nil
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes {
		s.Stop()
	}
}

// WaitHealthy waits until every node not stopped reports cluster_state:ok
// with all slots served, every replica among them has its link to its
// master up, and every master has a write acknowledged by its replicas
// (WAIT; the write is a key "redistest:probe:N" that expires within 2 s).
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.healthy()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: cluster not healthy after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) healthy() error {
	for _, s := range c.Nodes {
		if s.isStopped() {
			continue
		}
		if err := nodeHealthy(s.Addr); err != nil {
			return err
		}
	}
	for _, s := range c.Nodes {
		if s.isStopped() {
			continue
		}
		if err := replicasAck(s.Addr); err != nil {
			return err
		}
	}
	return nil
}

func nodeHealthy(addr string) error {
	cl := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384"} {
		if !strings.Contains(info, want) {
			return fmt.Errorf("%s: no %s", addr, want)
		}
	}
	repl, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return fmt.Errorf("%s: replica not in sync", addr)
	}
	return nil
}
