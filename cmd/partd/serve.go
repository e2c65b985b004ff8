package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/storeuri"
)

// serveFlags are the options of `partd serve`.
type serveFlags struct {
	addr        string
	store       string
	dir         string
	policy      string
	memory      string
	workers     int
	maxMessage  string
	remoteClose bool
	curveSecret string
	curveAllow  []string
	metrics     string
	logLevel    string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a store over ZeroMQ to Go and Python partd clients",
		Long: `Serve a store over ZeroMQ. Python partd's partd.zmq.Client and the Go
client (package client) both work against it.

The store is a Buffer: up to --memory bytes in memory, the largest keys
spilled to a Log (--policy file: a File store, which Python partd can read
from disk) in --dir (a temporary directory, removed at exit, if
--dir is not given). On SIGINT or SIGTERM the server stops accepting
requests, finishes those in flight, flushes the buffer to --dir and exits
with status 0; a second signal stops it at once.

The address the server listens on is printed to stdout as one line.

With --metrics ADDR, an HTTP server on ADDR answers /metrics (Prometheus:
requests, errors, bytes, latency and, for a Buffer, the bytes in memory and
its spills), /healthz (200 once the server is serving, also while it shuts
down) and /readyz (200 while it is serving; 503 while the store opens and
once it shuts down).

A server bound to an address other than loopback or ipc:// without CURVE
(--curve-secret) lets anyone who reaches it read and delete every key: it
logs a warning.`,
		Example: `  # a server on a fixed port, keeping 4 GiB in memory and spilling to /data/shuffle
  partd serve --addr tcp://127.0.0.1:5555 --memory 4GiB --dir /data/shuffle

  # the same store, by URI, with zstd frames
  partd serve --addr tcp://127.0.0.1:5555 --store 'file:///data/shuffle?memory=4GiB&compress=zstd'

  # on every interface, for clients with an allowed CURVE key, with Prometheus metrics
  partd serve --addr tcp://0.0.0.0:5555 --curve-secret @server.key --curve-allow @clients.txt --metrics 127.0.0.1:9100`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("serve takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE:        func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
		Annotations: map[string]string{finishOnSignal: "shutdown flushes the store"},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", server.DefaultAddr, "ZeroMQ endpoint to bind: tcp://HOST:PORT (PORT may be *) or ipc://PATH")
	fl.StringVar(&f.store, "store", "", "the store to serve, by URI (mem://, file:///abs/dir, …, with ?memory=SIZE and ?compress=NAME); instead of --dir and --memory")
	fl.StringVar(&f.dir, "dir", "", "directory of the store (default: a temporary directory removed at exit)")
	addPolicyFlag(cmd, &f.policy)
	fl.StringVar(&f.memory, "memory", "1GiB", "bytes kept in memory before the largest keys spill to disk (0: write straight to disk)")
	fl.IntVar(&f.workers, "workers", 0, "goroutines running store operations (default 2×GOMAXPROCS, at least 4)")
	fl.StringVar(&f.maxMessage, "max-message", "256MiB", "largest request accepted")
	fl.BoolVar(&f.remoteClose, "allow-remote-close", false, "let clients shut the server down with the close command")
	fl.StringVar(&f.curveSecret, "curve-secret", "", "require CURVE: the server's Z85 secret key, or @FILE to read it from FILE")
	fl.StringSliceVar(&f.curveAllow, "curve-allow", nil, "Z85 public keys of allowed clients (repeatable, comma-separated, @FILE for one key per line, * for any)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics, and /healthz and /readyz (e.g. 127.0.0.1:9100)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	memory, err := storeuri.ParseSize(f.memory)
	if err != nil {
		return usageError{fmt.Errorf("--memory: %w", err)}
	}
	maxMsg, err := storeuri.ParseSize(f.maxMessage)
	if err != nil {
		return usageError{fmt.Errorf("--max-message: %w", err)}
	}
	opts := []server.Option{server.WithLogger(logger), server.WithMaxMessageSize(maxMsg), server.WithRemoteClose(f.remoteClose)}
	if f.workers != 0 {
		opts = append(opts, server.WithWorkers(f.workers))
	}
	if f.curveSecret != "" || len(f.curveAllow) > 0 {
		secret, err := readKey(f.curveSecret)
		if err != nil {
			return usageError{fmt.Errorf("--curve-secret: %w", err)}
		}
		var allow []string
		for _, a := range f.curveAllow {
			keys, err := readKeys(a)
			if err != nil {
				return usageError{fmt.Errorf("--curve-allow: %w", err)}
			}
			allow = append(allow, keys...)
		}
		opts = append(opts, server.WithCurve(secret, allow...))
	}
	var spec storeuri.Spec
	if f.store != "" {
		if cmd.Flags().Changed("dir") || cmd.Flags().Changed("memory") || cmd.Flags().Changed("policy") {
			return usageError{errors.New("--store names the whole store: give it without --dir, --memory and --policy")}
		}
		if spec, err = storeuri.Parse(f.store); err != nil {
			return usageError{fmt.Errorf("--store: %w", err)}
		}
	} else if err := checkPolicy(f.policy); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	var health *healthState
	if f.metrics != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts = append(opts, server.WithMetrics(reg))
		// The listener is up before the store opens (a Log replays its
		// records), so that /readyz says 503 rather than nothing.
		var stopMetrics func()
		var err error
		if health, stopMetrics, err = startMetrics(logger, f.metrics, reg); err != nil {
			return err
		}
		defer stopMetrics()
	}

	var store partd.Store
	if f.store != "" {
		if store, err = spec.Open(nil); err != nil {
			return err
		}
	} else if store, err = newServerStore(f.policy, f.dir, memory); err != nil {
		return err
	}
	srv, err := server.New(store, f.addr, opts...)
	if err != nil {
		store.Close()
		return err
	}
	ctx := cmd.Context()
	if ctx.Err() != nil { // a signal while the store opened
		if err := srv.Close(); err != nil {
			return err
		}
		return context.Cause(ctx)
	}
	if f.curveSecret == "" && len(f.curveAllow) == 0 && !localAddr(srv.Addr()) {
		logger.Warn("serving without CURVE on an address other than loopback: anyone who can reach it can read, change and delete every key; "+
			"give --curve-secret and --curve-allow, or bind 127.0.0.1 or ipc://", "addr", srv.Addr())
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	health.set(stateServing)
	fmt.Fprintln(cmd.OutOrStdout(), srv.Addr())
	logger.Info("serving", "addr", srv.Addr(), "store", storeDesc(f), "memory", memory)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("signal received, shutting down (a second signal stops at once)")
		health.set(stateStopping)
		serveErr = srv.Close()
		if err := <-served; err != nil && serveErr == nil {
			serveErr = err
		}
	case serveErr = <-served: // a permitted remote close
		health.set(stateStopping)
		if err := srv.Close(); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if serveErr != nil {
		return serveErr
	}
	logger.Info("stopped cleanly")
	return nil
}

// The states /healthz and /readyz report.
const (
	stateStarting int32 = iota // the store is opening: not healthy, not ready
	stateServing               // healthy and ready
	stateStopping              // shutting down: healthy (busy flushing), not ready
)

// healthState is the server's state as the HTTP probes see it. A nil
// *healthState (no --metrics) ignores set.
type healthState struct{ state atomic.Int32 }

func (h *healthState) set(state int32) {
	if h != nil {
		h.state.Store(state)
	}
}

// probe answers 200 "ok" if ok(state), else 503 with the state's name.
func (h *healthState) probe(ok func(state int32) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		st := h.state.Load()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ok(st) {
			fmt.Fprintln(w, "ok")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, [...]string{"starting", "serving", "stopping"}[st])
	}
}

// startMetrics serves /metrics from reg, /healthz and /readyz on addr.
// stop shuts the HTTP server down.
func startMetrics(logger *slog.Logger, addr string, reg *prometheus.Registry) (h *healthState, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics: %w", err)
	}
	h = new(healthState)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/healthz", h.probe(func(st int32) bool { return st != stateStarting }))
	mux.Handle("/readyz", h.probe(func(st int32) bool { return st == stateServing }))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "err", err)
		}
	}()
	return h, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// localAddr reports whether a ZeroMQ endpoint the server is bound to is
// reachable only from this machine: ipc://, inproc://, or tcp:// on a
// loopback address or "localhost".
func localAddr(endpoint string) bool {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	if scheme != "tcp" {
		return scheme == "ipc" || scheme == "inproc"
	}
	host := rest
	if h, _, err := net.SplitHostPort(rest); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// storeDesc says what store serve built, for its log line.
func storeDesc(f serveFlags) string {
	if f.store != "" {
		return f.store
	}
	dir := f.dir
	if dir == "" {
		dir = "(temporary)"
	}
	return f.policy + " " + dir
}

// readKey returns s, or the first line of file F if s is "@F".
func readKey(s string) (string, error) {
	keys, err := readKeys(s)
	if err != nil {
		return "", err
	}
	if len(keys) != 1 {
		return "", fmt.Errorf("want one key, got %d", len(keys))
	}
	return keys[0], nil
}

// readKeys returns s, or the non-empty lines of file F if s is "@F".
func readKeys(s string) ([]string, error) {
	name, ok := strings.CutPrefix(s, "@")
	if !ok {
		return []string{s}, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var keys []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	return keys, nil
}
