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
	sync        bool
	workers     int
	maxMessage  string
	maxDisk     string
	remoteClose bool
	curveSecret string
	curveAllow  []string
	metrics     string
	logLevel    string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Serve a store over ZeroMQ to Go and Python partd clients",
		Long:    serveLong,
		Example: serveExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("serve takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE:        func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
		Annotations: map[string]string{finishOnSignal: "shutdown flushes the store"},
	}
	addServeFlags(cmd, &f)
	return cmd
}

// serveLong is the help text of `partd serve`.
const serveLong = `Serve a store over ZeroMQ. Python partd's partd.zmq.Client and the Go
client (package client) both work against it.

The store is a Buffer: up to --memory bytes in memory, the largest keys
spilled to a Log (--policy file: a File store, which Python partd can read
from disk) in --dir (a temporary directory, removed at exit, if
--dir is not given). On SIGINT or SIGTERM the server stops accepting
requests, finishes those in flight, flushes the buffer to --dir and exits
with status 0; a second signal stops it at once.

What an acknowledged append survives (a client's append returns once the
server has applied it to the store):

  --memory SIZE (default 1GiB)  the append is in the server's memory until
                                the Buffer spills it: SIGINT and SIGTERM
                                flush it to --dir, but a crash of the server
                                (kill -9, out of memory, power loss) loses
                                every append not yet spilled.
  --memory 0                    written to the files in --dir before the
                                answer: survives a crash or kill -9 of the
                                server, not a crash of the machine.
  --memory 0 --sync             fsynced before the answer: survives a crash
                                of the machine or a power loss too, as far
                                as the disk honours fsync; each append waits
                                for its fsync (measured: a Log took a quarter
                                of the appends per second of --memory 0).

With --store, the URI says the same: ?memory=SIZE keeps appends in memory,
and log:///DIR?sync=1 or file:///DIR?sync=1 (without ?memory=) syncs.
(A File store fsyncs the files it writes, not yet the directory that names
a key's new file.)

Memory for requests: --max-message caps one request (its frames plus 64
bytes each; from 1KiB to 1TiB); a larger one is answered with a too-large
error. The server reads requests of at most 4 × --max-message in all before
it waits for answers to go out, and keeps at most one --max-message of a
request it refuses. In the libzmq build (cgo), libzmq checks --max-message
against each frame only and hands a message over once its last frame has
arrived, so a message is held whole while it arrives, whatever its size: a
client that sends one message of many frames, each under the cap, holds
that much of the server's memory until it is complete; then the server
refuses it and gives the memory back. The pure-Go build (CGO_ENABLED=0)
checks the cap against the whole message as it arrives and drops the rest
of one over it, holding at most the cap. The Go client sends a request as
one payload frame and never one over the cap; Python partd's client sends
a frame per key and value. Against clients you do not trust, require CURVE
keys (the libzmq build has CURVE; the pure-Go one refuses the flags).

The address the server listens on is printed to stdout as one line.

With --metrics ADDR, an HTTP server on ADDR answers /metrics (Prometheus:
requests, errors, bytes, latency and, for a Buffer, the bytes in memory and
its spills), /healthz (200 once the server is serving, also while it shuts
down) and /readyz (200 while it is serving; 503 while the store opens and
once it shuts down).

A server bound to an address other than loopback or ipc:// without CURVE
(--curve-secret) lets anyone who reaches it read and delete every key: it
logs a warning.`

// serveExample is the example of `partd serve --help`.
const serveExample = `  # a server on a fixed port, keeping 4 GiB in memory and spilling to /data/shuffle
  partd serve --addr tcp://127.0.0.1:5555 --memory 4GiB --dir /data/shuffle

  # the same store, by URI, with zstd frames
  partd serve --addr tcp://127.0.0.1:5555 --store 'file:///data/shuffle?memory=4GiB&compress=zstd'

  # on every interface, for clients with an allowed CURVE key, with Prometheus metrics
  partd serve --addr tcp://0.0.0.0:5555 --curve-secret @server.key --curve-allow @clients.txt --metrics 127.0.0.1:9100`

// addServeFlags registers the flags of `partd serve` into f.
func addServeFlags(cmd *cobra.Command, f *serveFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", server.DefaultAddr, "ZeroMQ endpoint to bind: tcp://HOST:PORT (PORT may be *) or ipc://PATH")
	fl.StringVar(&f.store, "store", "", "the store to serve, by URI (mem://, file:///abs/dir, log:///abs/dir, …, with ?memory=SIZE, ?compress=NAME, ?sync=1); instead of --dir, --memory, --policy and --sync")
	fl.StringVar(&f.dir, "dir", "", "directory of the store (default: a temporary directory removed at exit)")
	addPolicyFlag(cmd, &f.policy)
	fl.StringVar(&f.memory, "memory", "1GiB", "bytes kept in memory before the largest keys spill to disk; a crash loses them (0: write straight to disk, which survives a crash of the process)")
	fl.BoolVar(&f.sync, "sync", false, "with --memory 0: fsync every write before answering, which survives a crash of the machine (slower)")
	fl.IntVar(&f.workers, "workers", 0, "goroutines running store operations (default 2×GOMAXPROCS, at least 4)")
	fl.StringVar(&f.maxMessage, "max-message", "256MiB", "largest request accepted (libzmq holds a message whole while it arrives: see above)")
	fl.StringVar(&f.maxDisk, "max-disk", "0", "most bytes the store may keep on disk (a Log, or a Buffer over one); past it appends fail with a 'full' error, reads and deletes go on (0: no limit)")
	fl.BoolVar(&f.remoteClose, "allow-remote-close", false, "let clients shut the server down with the close command")
	fl.StringVar(&f.curveSecret, "curve-secret", "", "require CURVE: the server's Z85 secret key, or @FILE to read it from FILE")
	fl.StringSliceVar(&f.curveAllow, "curve-allow", nil, "Z85 public keys of allowed clients (repeatable, comma-separated, @FILE for one key per line, * for any)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics, and /healthz and /readyz (e.g. 127.0.0.1:9100)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

// runServe runs `partd serve`: it checks the flags, opens the store and
// the server, serves until a signal or a permitted remote close, then shuts
// down.
func runServe(cmd *cobra.Command, f serveFlags) error {
	logger, err := serveLogger(cmd, f.logLevel)
	if err != nil {
		return err
	}
	memory, opts, err := serveOptions(f, logger)
	if err != nil {
		return err
	}
	spec, err := serveSpec(cmd, f, memory)
	if err != nil {
		return err
	}
	maxDisk, err := parseMaxDisk(f.maxDisk)
	if err != nil {
		return err
	}
	var health *healthState
	if f.metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts = append(opts, server.WithMetrics(reg))
		// The listener is up before the store opens (a Log replays its
		// records), so that /readyz says 503 rather than nothing.
		var stopMetrics func()
		if health, stopMetrics, err = startMetrics(logger, f.metrics, reg); err != nil {
			return err
		}
		defer stopMetrics()
	}
	srv, err := openServer(spec, f.addr, maxDisk, opts)
	if err != nil {
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
	logger.Info("serving", "addr", srv.Addr(), "store", storeDesc(f, spec), "memory", storeuri.FormatSize(spec.Memory), "survives", survives(spec))
	if err := awaitShutdown(ctx, srv, served, health, logger); err != nil {
		return err
	}
	logger.Info("stopped cleanly")
	return nil
}

// serveLogger returns the logger of --log-level, writing to stderr.
func serveLogger(cmd *cobra.Command, logLevel string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})), nil
}

// serveOptions checks --memory, whose bytes it returns, and returns the
// server options the flags give: the logger, --max-message, --workers,
// --allow-remote-close and CURVE.
func serveOptions(f serveFlags, logger *slog.Logger) (memory int64, opts []server.Option, err error) {
	memory, err = storeuri.ParseSize(f.memory)
	if err != nil {
		return 0, nil, usageError{fmt.Errorf("--memory: %w", err)}
	}
	maxMsg, err := storeuri.ParseSize(f.maxMessage)
	if err != nil {
		return 0, nil, usageError{fmt.Errorf("--max-message: %w", err)}
	}
	if maxMsg < server.MinMaxMessageSize || maxMsg > server.MaxMaxMessageSize {
		return 0, nil, usageError{fmt.Errorf("--max-message: %s is not between %s and %s", f.maxMessage,
			storeuri.FormatSize(server.MinMaxMessageSize), storeuri.FormatSize(server.MaxMaxMessageSize))}
	}
	opts = []server.Option{server.WithLogger(logger), server.WithMaxMessageSize(maxMsg), server.WithRemoteClose(f.remoteClose)}
	if f.workers != 0 {
		opts = append(opts, server.WithWorkers(f.workers))
	}
	if f.curveSecret != "" || len(f.curveAllow) > 0 {
		curve, err := curveOption(f)
		if err != nil {
			return 0, nil, err
		}
		opts = append(opts, curve)
	}
	return memory, opts, nil
}

// curveOption reads --curve-secret and --curve-allow into server.WithCurve.
func curveOption(f serveFlags) (server.Option, error) {
	secret, err := readKey(f.curveSecret)
	if err != nil {
		return nil, usageError{fmt.Errorf("--curve-secret: %w", err)}
	}
	var allow []string
	for _, a := range f.curveAllow {
		keys, err := readKeys(a)
		if err != nil {
			return nil, usageError{fmt.Errorf("--curve-allow: %w", err)}
		}
		allow = append(allow, keys...)
	}
	return server.WithCurve(secret, allow...), nil
}

// serveSpec returns the store the flags name, --store or --policy, --dir,
// --memory and --sync, checked whole before anything is opened.
func serveSpec(cmd *cobra.Command, f serveFlags, memory int64) (storeuri.Spec, error) {
	if f.store != "" {
		if cmd.Flags().Changed("dir") || cmd.Flags().Changed("memory") || cmd.Flags().Changed("policy") || cmd.Flags().Changed("sync") {
			return storeuri.Spec{}, usageError{errors.New("--store names the whole store: give it without --dir, --memory, --policy and --sync (in a URI: ?memory=, ?sync=1)")}
		}
		spec, err := storeuri.Parse(f.store)
		if err != nil {
			return storeuri.Spec{}, usageError{fmt.Errorf("--store: %w", err)}
		}
		return spec, nil
	}
	if err := checkPolicy(f.policy); err != nil {
		return storeuri.Spec{}, err
	}
	if f.sync && memory > 0 {
		return storeuri.Spec{}, usageError{errors.New("--sync needs --memory 0: with a buffer, appends wait in memory, unsynced, until they spill")}
	}
	spec := serverStoreSpec(f.policy, f.dir, memory)
	spec.Sync = f.sync
	return spec, nil
}

// openServer opens the store spec names and a server of it bound to addr.
// If the server cannot start, it closes the store.
func openServer(spec storeuri.Spec, addr string, maxDisk int64, opts []server.Option) (*server.Server, error) {
	store, err := spec.Open(nil)
	if err != nil {
		return nil, err
	}
	if store, err = withDiskQuota(store, maxDisk); err != nil {
		return nil, err
	}
	if store, err = withAttempts(store); err != nil {
		return nil, err
	}
	srv, err := server.New(store, addr, append(opts, server.WithStoreName(spec.Redacted()))...)
	if err != nil {
		store.Close()
		return nil, err
	}
	return srv, nil
}

// awaitShutdown waits until ctx is done (a signal) or a permitted remote
// close ends srv.Serve, whose result served delivers, then closes srv. It
// returns the first error of Serve and Close.
func awaitShutdown(ctx context.Context, srv *server.Server, served <-chan error, health *healthState, logger *slog.Logger) error {
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
	return serveErr
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

// storeDesc says what store serve built, for its log line: its URI,
// without a password.
func storeDesc(f serveFlags, spec storeuri.Spec) string {
	if f.store == "" && f.dir == "" {
		return spec.Scheme + " (temporary)"
	}
	return spec.Redacted()
}

// survives says, for serve's log line, what a store keeps an acknowledged
// append through, as serve --help explains.
func survives(spec storeuri.Spec) string {
	switch {
	case spec.Memory > 0:
		return "nothing: appends are in memory until spilled, a crash loses them"
	case spec.Scheme == "mem":
		return "nothing: the store is in memory"
	case spec.Scheme != "file" && spec.Scheme != "log":
		return "what the store at " + spec.Scheme + ":// keeps"
	case spec.Dir == "":
		return "nothing: a temporary directory, removed at exit"
	case spec.Sync:
		return "a crash of the process or of the machine (fsync)"
	}
	return "a crash of the process, not of the machine"
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
