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

// Pause stops the process (SIGSTOP) without closing its connections, as a
// hung node: clients wait for answers that do not come. Resume or Stop
// ends it.
func (s *Server) Pause() error { return pause(s.cmd.Process) }

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() error { return resume(s.cmd.Process) }

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
// replica is in sync.
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

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes {
		s.Stop()
	}
}

// WaitHealthy waits until every node not stopped reports cluster_state:ok
// with all slots served, and every replica among them has its link to its
// master up.
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
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			continue
		}
		if err := nodeHealthy(s.Addr); err != nil {
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
