package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
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
requests, finishes those in flight, flushes the buffer to --dir and exits.

The address the server listens on is printed to stdout as one line.`,
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
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
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100)")
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
	reg := prometheus.NewRegistry()
	if f.metrics != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts = append(opts, server.WithMetrics(reg))
	}

	var store partd.Store
	if f.store != "" {
		if cmd.Flags().Changed("dir") || cmd.Flags().Changed("memory") || cmd.Flags().Changed("policy") {
			return usageError{errors.New("--store names the whole store: give it without --dir, --memory and --policy")}
		}
		spec, err := storeuri.Parse(f.store)
		if err != nil {
			return usageError{fmt.Errorf("--store: %w", err)}
		}
		if spec.Memory > 0 {
			limitMemory(spec.Memory)
		}
		store, err = spec.Open(nil)
		if err != nil {
			return err
		}
	} else if err := checkPolicy(f.policy); err != nil {
		return err
	} else if store, err = newServerStore(f.policy, f.dir, memory); err != nil {
		return err
	}
	srv, err := server.New(store, f.addr, opts...)
	if err != nil {
		store.Close()
		return err
	}

	var metricsSrv *http.Server
	if f.metrics != "" {
		ln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			srv.Close()
			return fmt.Errorf("--metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		logger.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
		go func() {
			if err := metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server", "err", err)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	fmt.Fprintln(cmd.OutOrStdout(), srv.Addr())
	logger.Info("serving", "addr", srv.Addr(), "store", storeDesc(f), "memory", memory)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("signal received, shutting down")
		stop() // a second signal kills the process the default way
		serveErr = srv.Close()
		if err := <-served; err != nil && serveErr == nil {
			serveErr = err
		}
	case serveErr = <-served: // a permitted remote close
		if err := srv.Close(); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		metricsSrv.Shutdown(sctx)
		cancel()
	}
	if serveErr != nil {
		return serveErr
	}
	logger.Info("stopped cleanly")
	return nil
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
