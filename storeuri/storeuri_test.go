package storeuri_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
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
		// Redis: the namespace defaults to "partd".
		"redis://127.0.0.1:6379":                         {Scheme: "redis", Addr: "127.0.0.1:6379", Prefix: "partd"},
		"redis://cache.local:6380/3?prefix=jobs.42":      {Scheme: "redis", Addr: "cache.local:6380", DB: 3, Prefix: "jobs.42"},
		"redis://u:p%40ss%2Fw@[::1]:6379/0":              {Scheme: "redis", Addr: "[::1]:6379", User: "u", Password: "p@ss/w", Prefix: "partd"},
		"redis://:secret@h:1/?prefix=a:b":                {Scheme: "redis", Addr: "h:1", Password: "secret", Prefix: "a:b"},
		"REDIS://h:1?prefix=x&memory=1MiB&compress=zstd": {Scheme: "redis", Addr: "h:1", Prefix: "x", Memory: 1 << 20, Compress: compress.Setting{Algorithm: compress.ZstdAlgorithm}},
		"redis-cluster://h1:7000,h2:7001,h3:7002":        {Scheme: "redis-cluster", Addr: "h1:7000,h2:7001,h3:7002", Prefix: "partd"},
		"redis-cluster://admin:pw@h1:7000?prefix=s-1":    {Scheme: "redis-cluster", Addr: "h1:7000", User: "admin", Password: "pw", Prefix: "s-1"},
		"redis-cluster://h1:7000/0?compress=snappy":      {Scheme: "redis-cluster", Addr: "h1:7000", Prefix: "partd", Compress: compress.Setting{Algorithm: compress.SnappyAlgorithm}},
		// sync: file and log only.
		"log:///d?sync=1":                   {Scheme: "log", Dir: "/d", Sync: true},
		"file:///d?sync=true&compress=zstd": {Scheme: "file", Dir: "/d", Sync: true, Compress: compress.Setting{Algorithm: compress.ZstdAlgorithm}},
		"log:///d?sync=0&memory=1MiB":       {Scheme: "log", Dir: "/d", Memory: 1 << 20},
		"log:///d?sync=FALSE":               {Scheme: "log", Dir: "/d"},
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
		"redis://", "redis://host", "redis://host:port", "redis://:6379", "redis://h:0", "redis://h:70000",
		"redis://h:1,h:2", "redis://h:1/x", "redis://h:1/-1", "redis://h:1/01", "redis://u:%zz@h:1",
		"redis://h:1?prefix=", "redis://h:1?prefix=a%20b", "redis://h:1?prefix={x}", "redis://h:1?prefix=a&prefix=b",
		"redis-cluster://", "redis-cluster://h1:1,", "redis-cluster://h1:1,h2", "redis-cluster://h:1/2",
		"mem://?prefix=x", "file:///d?prefix=x", "tcp://h:1?prefix=x",
		// sizes that are not sizes, or too large
		"mem://?memory=NaN", "mem://?memory=Inf", "mem://?memory=-1", "mem://?memory=1e3", "mem://?memory=0x10",
		"mem://?memory=0.1", "mem://?memory=8EiB", "mem://?memory=9223372036854775808", "mem://?memory=4000000TiBB",
		// sync: not a boolean, a scheme without a disk of its own, or with a Buffer in front
		"log:///d?sync=yes", "log:///d?sync=", "mem://?sync=1", "tcp://h:1?sync=1", "redis://h:1?sync=1",
		"log:///d?sync=1&memory=1MiB", "file:///d?memory=64&sync=true",
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

// TestOpenRedis opens stores on a real Redis server from URIs: the
// conformance suite over zstd over a Buffer over the store, and two
// namespaces that do not see each other.
func TestOpenRedis(t *testing.T) {
	srv := redistest.NewServer(t)
	n := 0
	partdtest.Run(t, func(t *testing.T) partd.Store {
		n++
		s, err := storeuri.Open(fmt.Sprintf("redis://%s/1?prefix=uri%d&memory=200&compress=zstd", srv.Addr, n), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	a, err := storeuri.Open("redis://"+srv.Addr+"?prefix=a", &storeuri.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, ok := a.(*redisstore.Store); !ok {
		t.Fatalf("redis:// opened a %T, want *redisstore.Store", a)
	}
	b, err := storeuri.Open("redis://"+srv.Addr, nil) // the default namespace
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Append(map[string][]byte{"k": []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if keys, err := b.Keys(); err != nil || len(keys) != 0 {
		t.Fatalf("another namespace sees %q, %v", keys, err)
	}
	if err := a.Drop(); err != nil {
		t.Fatal(err)
	}
	// A server that is not there is an error, soon.
	if _, err := storeuri.Open("redis://127.0.0.1:1", &storeuri.Options{Timeout: 200 * time.Millisecond}); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

// TestOpenRedisCluster opens a store on a Redis Cluster from a URI naming
// one of its nodes.
func TestOpenRedisCluster(t *testing.T) {
	cl := redistest.NewCluster(t, 3, 0)
	s, err := storeuri.Open("redis-cluster://"+cl.Nodes[0].Addr+"?prefix=c&compress=snappy", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := make(map[string][]byte)
	for i := range 20 {
		batch[fmt.Sprintf("p%d/x", i)] = []byte(strconv.Itoa(i))
	}
	if err := s.Append(batch); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys()
	if err != nil || len(keys) != 20 {
		t.Fatalf("Keys = %q, %v; want 20 keys from every master", keys, err)
	}
	got, err := s.Get("p7/x")
	if err != nil || string(got[0]) != "7" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
}

// TestParseSize checks sizes, and that none overflows or is NaN.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "0.0": 0, "1048576": 1 << 20, "1GiB": 1 << 30, "1gib": 1 << 30, "512KiB": 512 << 10, "64MB": 64e6,
		"1.5GB": 1.5e9, "2G": 2 << 30, "10 MiB": 10 << 20, "100B": 100, ".5KiB": 512, "1.1B": 1, "7EiB": 7 << 60,
		"9223372036854775807": math.MaxInt64, "8388607.999999TiB": 8388607<<40 + 1099510528264,
	} {
		if got, err := storeuri.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "lots", "-1", "+1", "1XB", "GiB", "1e30GiB", "1e3", "NaN", "nan", "Inf", "-Inf",
		"infinity", "0x10", "1_000", "1..5", "0.4", "8EiB", "9223372036854775808", "4000000TiB" + "x", "16777216TiB",
		"99999999999999999999999", "1 000"} {
		if n, err := storeuri.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
	for _, n := range []int64{0, 1, 1000, 1024, 1536, 1 << 20, 3 << 40, math.MaxInt64} {
		if back, err := storeuri.ParseSize(storeuri.FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, storeuri.FormatSize(n), back, err)
		}
	}
}

// TestRedact checks that no error of Parse, and no Redacted form, holds a
// password, whatever the URI's mistake.
func TestRedact(t *testing.T) {
	const pw = "hunter2PW"
	for _, uri := range []string{
		"redis://:" + pw + "@h:1?bogus=1",
		"redis://:" + pw + "@h:1?memory=-1",
		"redis://:" + pw + "@h:1?memory=NaN",
		"redis://u:" + pw + "@h:1?prefix=a%20b",
		"redis://u:" + pw + "@h:1?sync=1",
		"redis://u:" + pw + "@h",
		"redis://u:" + pw + "@h:1,h:2",
		"redis://u:" + pw + "@h:1/x",
		"redis-cluster://:" + pw + "@h1:7000,h2?prefix=x",
		"redis-cluster://:" + pw + "@h1:7000/3",
		"rediss://:" + pw + "@h:1",  // a scheme we do not know
		"redis:/:" + pw + "@h:1",    // a bad prefix
		"//:" + pw + "@h:1",         // no scheme
		"redis://:a?" + pw + "@h:1", // an unencoded ? in the password
		"redis://:a/" + pw + "@h:1/x",
		"redis://:a%zz" + pw + "@h:1", // a bad escape
		"redis://" + pw + "@h:1/x",    // a password where the user goes, as redis-cli reads it
	} {
		_, err := storeuri.Parse(uri)
		if !errors.Is(err, storeuri.ErrBadURI) {
			t.Errorf("Parse(%q) = %v, want ErrBadURI", uri, err)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "zz") {
			t.Errorf("Parse(%q): the error shows the password: %v", uri, err)
		}
		if r := storeuri.Redact(uri); strings.Contains(r, pw) || !strings.Contains(r, "xxxxx") {
			t.Errorf("Redact(%q) = %q", uri, r)
		}
	}
	for uri, want := range map[string]string{
		"redis://u:" + pw + "@h:1/2?prefix=p":         "redis://u:xxxxx@h:1/2?prefix=p",
		"redis-cluster://:" + pw + "@h1:1,h2:2":       "redis-cluster://:xxxxx@h1:1,h2:2?prefix=partd",
		"redis://u:p%40" + pw + "%2F@h:1?memory=1KiB": "redis://u:xxxxx@h:1?memory=1024&prefix=partd",
		"redis://:a#" + pw + "@h:1":                   "redis://:xxxxx@h:1?prefix=partd",
		"redis://h:1":                                 "redis://h:1?prefix=partd",
		"log:///a:b@c?sync=1":                         "log:///a:b@c?sync=1",
		"tcp://127.0.0.1:5":                           "tcp://127.0.0.1:5",
		"file:///x?memory=1MiB":                       "file:///x?memory=1048576",
	} {
		s, err := storeuri.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Redacted(); got != want {
			t.Errorf("Parse(%q).Redacted() = %q, want %q", uri, got, want)
		}
	}
	// A wrong password reaches Redis; the error does not show it.
	srv := redistest.NewServer(t)
	if _, err := storeuri.Open("redis://:"+pw+"@"+srv.Addr, &storeuri.Options{Timeout: time.Second}); err != nil && strings.Contains(err.Error(), pw) {
		t.Errorf("Open with a password: %v", err)
	}
}

// TestOpenSync opens file:// and log:// stores with sync=1 and checks that
// what they return is there for a new process (the SIGKILL and cost tests
// of the durability modes are cmd/partd's TestServeDurability).
func TestOpenSync(t *testing.T) {
	for _, scheme := range []string{"file", "log"} {
		dir := t.TempDir()
		s, err := storeuri.Open(scheme+"://"+dir+"?sync=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(map[string][]byte{"k": []byte("synced")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = storeuri.Open(scheme+"://"+dir, &storeuri.Options{Existing: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get("k"); err != nil || string(got[0]) != "synced" {
			t.Errorf("%s: Get = %q, %v", scheme, got, err)
		}
		s.Close()
	}
	if _, err := (storeuri.Spec{Scheme: "log", Sync: true, Memory: 1}).Open(nil); !errors.Is(err, storeuri.ErrBadURI) {
		t.Errorf("Open of a Spec with Sync and Memory: %v", err)
	}
	if _, err := (storeuri.Spec{Scheme: "mem", Sync: true}).Open(nil); !errors.Is(err, storeuri.ErrBadURI) {
		t.Errorf("Open of a mem Spec with Sync: %v", err)
	}
}

// TestCompressionUnderBuffer: ?memory= and ?compress= stack as the README
// advises, a Buffer over the compression layer, so that the Buffer takes
// small appends as they come and compresses what it spills in large
// pieces: the spilled key is one zstd frame, not one per append.
func TestCompressionUnderBuffer(t *testing.T) {
	dir := t.TempDir()
	s, err := storeuri.Open("file://"+dir+"?memory=1MiB&compress=zstd", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*partd.Buffer); !ok {
		t.Fatalf("the URI opened a %T, want a *partd.Buffer on top", s)
	}
	row := []byte("42,alice,Berlin,17.50,true\n")
	for range 100 {
		if err := s.Append(map[string][]byte{"k": row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // spills
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	// One frame: an 8-byte length, then that many bytes of zstd.
	if len(raw) < 8 || int(binary.LittleEndian.Uint64(raw)) != len(raw)-8 || len(raw) >= 100*len(row)/2 {
		t.Fatalf("k on disk: %d bytes, first frame of %d: want one compressed frame", len(raw), binary.LittleEndian.Uint64(raw))
	}
}
