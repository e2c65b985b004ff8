package storeuri_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/storeuri"
)

func TestParse(t *testing.T) {
	good := map[string]storeuri.Spec{
		"mem://":                            {Scheme: "mem"},
		"file://":                           {Scheme: "file"},
		"file:///data/shuffle":              {Scheme: "file", Dir: "/data/shuffle"},
		"file:///data/a%20b/":               {Scheme: "file", Dir: "/data/a b"},
		"tcp://127.0.0.1:5555":              {Scheme: "tcp", Addr: "tcp://127.0.0.1:5555"},
		"ipc:///tmp/partd.sock":             {Scheme: "ipc", Addr: "ipc:///tmp/partd.sock"},
		"FILE:///d?memory=64MiB":            {Scheme: "file", Dir: "/d", Memory: 64 << 20},
		"mem://?compress=zstd:3":            {Scheme: "mem", Compress: compress.Setting{Algorithm: compress.ZstdAlgorithm, Level: 3}},
		"file:///d?memory=1G&compress=zlib": {Scheme: "file", Dir: "/d", Memory: 1 << 30, Compress: compress.Setting{Algorithm: compress.ZLibAlgorithm}},
	}
	for uri, want := range good {
		got, err := storeuri.Parse(uri)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", uri, got, err, want)
			continue
		}
		if back, err := storeuri.Parse(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", uri, got.String(), back, err)
		}
	}
	for _, uri := range []string{
		"", "/data", "data", "file:", "file:data", "file://data", "file://relative/dir",
		"s3://bucket", "log2:///x", "log://rel", "mem:///x", "tcp://", "tcp://host", "ipc://",
		"mem://?memory=lots", "mem://?compress=lz4", "mem://?color=red",
		"mem://?memory=1&memory=2", "file:///d?%zz",
	} {
		if s, err := storeuri.Parse(uri); !errors.Is(err, storeuri.ErrBadURI) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrBadURI", uri, s, err)
		}
	}
}

// TestConformance runs the public suite over whole stacks built from URIs:
// zstd over a Buffer over a File, and snappy over a Buffer over a Log.
func TestConformance(t *testing.T) {
	for _, scheme := range []string{"file", "log"} {
		t.Run(scheme, func(t *testing.T) {
			partdtest.Run(t, func(t *testing.T) partd.Store {
				s, err := storeuri.Open(scheme+"://"+t.TempDir()+"?memory=200&compress=zstd", nil)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func TestOpenBuildsTheLayers(t *testing.T) {
	dir := t.TempDir()
	s, err := storeuri.Open("file://"+dir+"?memory=1KiB", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*partd.Buffer); !ok {
		t.Fatalf("memory= built a %T, want *partd.Buffer", s)
	}
	if err := s.Append(map[string][]byte{"k": make([]byte, 5000)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The value went past the Buffer into the File in dir.
	if fi, err := os.Stat(filepath.Join(dir, "k")); err != nil || fi.Size() != 5000 {
		t.Fatalf("k on disk: %v, %v", fi, err)
	}
	// Existing opens it, and refuses a directory that holds no store,
	// creating nothing.
	s, err = storeuri.Open("file://"+dir, &storeuri.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	missing := filepath.Join(dir, "nope")
	if _, err := storeuri.Open("file://"+missing, &storeuri.Options{Existing: true}); err == nil {
		t.Errorf("Existing opened a directory that does not exist")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Existing created %s: %v", missing, err)
	}
	if _, err := storeuri.Open("file://", &storeuri.Options{Existing: true}); err == nil {
		t.Errorf("Existing opened a new temporary store")
	}
}

func TestOpenServer(t *testing.T) {
	srv, err := server.New(partd.NewDict(), "tcp://127.0.0.1:*", server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	s, err := storeuri.Open(srv.Addr()+"?compress=snappy", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(map[string][]byte{"k": []byte("over the wire")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("k")
	if err != nil || string(got[0]) != "over the wire" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// The server holds snappy frames, not the plain bytes.
	raw, err := storeuri.Open(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if v, err := raw.Get("k"); err != nil || string(v[0]) == "over the wire" || len(v[0]) == 0 {
		t.Errorf("raw bytes on the server: %q, %v", v, err)
	}
}
