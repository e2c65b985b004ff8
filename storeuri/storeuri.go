// Package storeuri opens any partd store from a URI, so that a program picks
// its store from a flag or a configuration file, and builds every stack the
// command line serves, shuffles and benchmarks with: adding a write policy
// means adding one case here.
//
// The schemes:
//
//	mem://                      a partd.Dict
//	file:///abs/dir             a partd.File in that directory
//	file://                     a partd.File in a temporary directory, removed by Close
//	log:///abs/dir              a partd.Log in that directory
//	log://                      a partd.Log in a temporary directory, removed by Close
//	tcp://HOST:PORT, ipc://PATH a client of a partd server
//	redis://[USER:PASS@]HOST:PORT[/DB]
//	                            a redisstore.Store on one Redis server
//	redis-cluster://[USER:PASS@]HOST:PORT,HOST:PORT…
//	                            a redisstore.Store on a Redis Cluster, reached through any of its nodes
//
// The Redis schemes take the namespace of the store as prefix=NAME (1 to 64
// letters, digits and _-.:), "partd" if none is given; stores with different
// prefixes share a server without seeing each other's keys. A user or
// password with special characters is percent-encoded, as in any URL.
//
// Two query parameters add layers over any of them:
//
//	memory=SIZE      a partd.Buffer holding up to SIZE bytes in an off-heap Dict (NewOffHeapDict), spilling to the store
//	compress=NAME    a compression layer over that: zstd, zstd:LEVEL, snappy, zlib, zlib:LEVEL
//
// so "file:///data/shuffle?memory=1GiB&compress=zstd" is
// compress.Zstd(partd.NewBuffer(partd.NewOffHeapDict(), file, 1<<30)).
package storeuri

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/redisstore"
	"github.com/redis/go-redis/v9"
)

// ErrBadURI is wrapped by every error of Parse.
var ErrBadURI = errors.New("bad store URI")

// Schemes lists the schemes Open knows.
var Schemes = []string{"mem", "file", "log", "tcp", "ipc", "redis", "redis-cluster"}

// A Spec is a parsed store URI: a write policy and the layers over it.
type Spec struct {
	Scheme   string           // one of Schemes
	Dir      string           // file, log: the directory; "" for a temporary one
	Addr     string           // tcp, ipc: the server's address, as client.Dial takes it; redis: HOST:PORT; redis-cluster: HOST:PORT,HOST:PORT…
	User     string           // redis, redis-cluster: the user to authenticate as, if any
	Password string           // redis, redis-cluster: the password, if any
	DB       int              // redis: the database number
	Prefix   string           // redis, redis-cluster: the store's namespace (redisstore.DefaultPrefix if not given)
	Memory   int64            // > 0: a Buffer of this many bytes in a Dict over the store
	Compress compress.Setting // a compression layer over everything
}

// Options are how Open opens a Spec; the zero value is the default.
type Options struct {
	// Existing opens only a store that exists: a file: directory that does
	// not exist or holds no store is an error and nothing is created. It
	// has no effect on redis and redis-cluster: opening a namespace creates
	// nothing.
	Existing bool
	// Timeout bounds each call of a client (tcp, ipc); 0 is
	// client.DefaultTimeout. For redis and redis-cluster it bounds each
	// round trip to Redis; 0 is redisstore.DefaultTimeout.
	Timeout time.Duration
}

// Parse parses a store URI. Unknown schemes, relative paths, unknown query
// parameters and malformed values are errors wrapping ErrBadURI.
func Parse(uri string) (Spec, error) {
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("storeuri: %q: %w: %s", uri, ErrBadURI, fmt.Sprintf(format, a...))
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return bad("want SCHEME://… with a scheme of %s", strings.Join(Schemes, ", "))
	}
	rest, query, _ := strings.Cut(rest, "?")
	s := Spec{Scheme: strings.ToLower(scheme)}
	switch s.Scheme {
	case "mem":
		if rest != "" {
			return bad("mem:// takes no path")
		}
	case "file", "log":
		if rest != "" {
			p, err := url.PathUnescape(rest)
			if err != nil {
				return bad("path: %v", err)
			}
			if !strings.HasPrefix(p, "/") {
				return bad("the path must be absolute: %s:///abs/dir", s.Scheme)
			}
			s.Dir = filepath.Clean(p)
		}
	case "tcp", "ipc":
		if rest == "" {
			return bad("%s:// needs an address", s.Scheme)
		}
		if s.Scheme == "tcp" && !strings.Contains(rest, ":") {
			return bad("tcp://HOST:PORT needs a port")
		}
		s.Addr = s.Scheme + "://" + rest
	case "redis", "redis-cluster":
		if err := s.parseRedis(rest); err != nil {
			return bad("%v", err)
		}
	default:
		return bad("unknown scheme %q (want one of %s)", scheme, strings.Join(Schemes, ", "))
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return bad("query: %v", err)
	}
	for name, vs := range values {
		if len(vs) != 1 {
			return bad("%s given %d times", name, len(vs))
		}
		switch v := vs[0]; name {
		case "memory":
			if s.Memory, err = ParseSize(v); err != nil {
				return bad("memory: %v", err)
			}
		case "compress":
			if s.Compress, err = compress.Parse(v); err != nil {
				return bad("compress: %v", err)
			}
		case "prefix":
			if !s.isRedis() {
				return bad("prefix is for redis:// and redis-cluster:// only")
			}
			if err := redisstore.ValidatePrefix(v); err != nil {
				return bad("%v", err)
			}
			s.Prefix = v
		default:
			return bad("unknown parameter %q (want memory, compress or, for redis, prefix)", name)
		}
	}
	if s.isRedis() && s.Prefix == "" {
		s.Prefix = redisstore.DefaultPrefix
	}
	return s, nil
}

func (s Spec) isRedis() bool { return s.Scheme == "redis" || s.Scheme == "redis-cluster" }

// parseRedis parses "[USER[:PASS]@]HOST:PORT[,HOST:PORT…][/DB]" into s.
func (s *Spec) parseRedis(rest string) error {
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, pass, _ := strings.Cut(rest[:at], ":")
		var err error
		if s.User, err = url.PathUnescape(user); err != nil {
			return fmt.Errorf("user: %v", err)
		}
		if s.Password, err = url.PathUnescape(pass); err != nil {
			return fmt.Errorf("password: %v", err)
		}
		rest = rest[at+1:]
	}
	hosts, db, hasDB := strings.Cut(rest, "/")
	if hasDB && db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strconv.Itoa(n) != db {
			return fmt.Errorf("database %q is not a number", db)
		}
		if s.Scheme == "redis-cluster" && n != 0 {
			return fmt.Errorf("a Redis Cluster has only database 0")
		}
		s.DB = n
	}
	if hosts == "" {
		return fmt.Errorf("%s:// needs HOST:PORT", s.Scheme)
	}
	addrs := strings.Split(hosts, ",")
	if s.Scheme == "redis" && len(addrs) > 1 {
		return fmt.Errorf("redis:// takes one HOST:PORT; use redis-cluster:// for a cluster")
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("%q is not HOST:PORT", a)
		}
	}
	s.Addr = hosts
	return nil
}

// String returns the URI of s, which Parse turns back into s.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Scheme + "://")
	switch s.Scheme {
	case "file", "log":
		b.WriteString((&url.URL{Path: s.Dir}).EscapedPath())
	case "tcp", "ipc":
		b.WriteString(strings.TrimPrefix(s.Addr, s.Scheme+"://"))
	case "redis", "redis-cluster":
		if s.User != "" || s.Password != "" {
			u := url.User(s.User)
			if s.Password != "" {
				u = url.UserPassword(s.User, s.Password)
			}
			b.WriteString(u.String() + "@")
		}
		b.WriteString(s.Addr)
		if s.DB != 0 {
			b.WriteString("/" + strconv.Itoa(s.DB))
		}
	}
	q := url.Values{}
	if s.isRedis() {
		q.Set("prefix", cmp.Or(s.Prefix, redisstore.DefaultPrefix))
	}
	if s.Memory > 0 {
		q.Set("memory", strconv.FormatInt(s.Memory, 10))
	}
	if s.Compress.Algorithm != compress.None {
		q.Set("compress", s.Compress.String())
	}
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

// Open parses uri and opens its store; see the package documentation.
func Open(uri string, opts *Options) (partd.Store, error) {
	s, err := Parse(uri)
	if err != nil {
		return nil, err
	}
	return s.Open(opts)
}

// Open opens the store s describes. Closing it closes every layer.
func (s Spec) Open(opts *Options) (partd.Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	var store partd.Store
	switch s.Scheme {
	case "mem":
		store = partd.NewDict()
	case "file", "log":
		if s.Dir == "" && o.Existing {
			return nil, fmt.Errorf("storeuri: %s:// names a new temporary store, not an existing one", s.Scheme)
		}
		var err error
		if s.Scheme == "file" {
			store, err = partd.OpenFile(s.Dir, &partd.FileOptions{NoCreate: o.Existing})
		} else {
			store, err = partd.OpenLog(s.Dir, &partd.LogOptions{NoCreate: o.Existing})
		}
		if err != nil {
			return nil, err
		}
	case "tcp", "ipc":
		c, err := client.Dial(s.Addr, client.WithTimeout(cmpOr(o.Timeout, client.DefaultTimeout)))
		if err != nil {
			return nil, fmt.Errorf("storeuri: connecting to %s: %w", s.Addr, err)
		}
		store = c
	case "redis", "redis-cluster":
		r, err := redisstore.Dial(&redis.UniversalOptions{
			Addrs:         strings.Split(s.Addr, ","),
			IsClusterMode: s.Scheme == "redis-cluster",
			Username:      s.User,
			Password:      s.Password,
			DB:            s.DB,
		}, cmp.Or(s.Prefix, redisstore.DefaultPrefix), redisstore.WithTimeout(cmpOr(o.Timeout, redisstore.DefaultTimeout)))
		if err != nil {
			return nil, fmt.Errorf("storeuri: opening %s://%s: %w", s.Scheme, s.Addr, err)
		}
		store = r
	default:
		return nil, fmt.Errorf("storeuri: %w: unknown scheme %q", ErrBadURI, s.Scheme)
	}
	if s.Memory > 0 {
		store = partd.NewBuffer(partd.NewOffHeapDict(), store, s.Memory)
	}
	wrapped, err := s.Compress.Wrap(store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return wrapped, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ParseSize parses a byte count: "1048576", "512KiB", "1GiB", "1.5GB", "64MB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if n := len(t) - len(u.suffix); n > 0 && strings.EqualFold(t[n:], u.suffix) {
			t, mult = strings.TrimSpace(t[:n]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (examples: 1048576, 512KiB, 1GiB, 1.5GB)", s)
	}
	return int64(v * mult), nil
}
