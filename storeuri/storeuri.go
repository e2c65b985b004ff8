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
// # Drivers
//
// The first three are this package's own. The others are registered by
// the packages that implement them, as database/sql drivers are: tcp://
// and ipc:// by package client, redis:// and redis-cluster:// by package
// redisstore, each in its init. A program that opens only mem://, file://
// and log:// stores therefore compiles neither ZeroMQ nor go-redis; one
// that wants the others imports their packages, if only for the side
// effect:
//
//	import (
//		_ "github.com/gopartd/partd/client"     // tcp://, ipc://
//		_ "github.com/gopartd/partd/redisstore" // redis://, redis-cluster://
//	)
//
// (the partd command does). Parse and Open of a scheme whose package is not
// linked in fail with an error, wrapping ErrBadURI, that names the import.
//
// The Redis schemes take the namespace of the store as prefix=NAME (1 to 64
// letters, digits and _-.:), "partd" if none is given; stores with different
// prefixes share a server without seeing each other's keys. A user or
// password with special characters is percent-encoded, as in any URL.
// They also take
//
//	wait=N                 every write returns once N replicas of its master acknowledge it (0 to 100; 0, the default, waits for none)
//	wait_timeout=DURATION  how long a write waits for them (1ms to 10m; 1s by default), after which it fails wrapping redisstore.ErrMaybeWritten
//
// (redisstore.WithWaitReplicas). Without wait, Redis replicates
// asynchronously: a failover can lose appends that returned, and leave a
// key with a gap, later appends there and earlier ones missing.
//
// Two query parameters add layers over any of them:
//
//	compress=NAME    a compression layer over the store: zstd, zstd:LEVEL, snappy, zlib, zlib:LEVEL
//	memory=SIZE      a partd.Buffer over that, holding up to SIZE bytes in an off-heap Dict (NewOffHeapDict)
//
// so "file:///data/shuffle?memory=1GiB&compress=zstd" is
// partd.NewBuffer(partd.NewOffHeapDict(), compress.Zstd(file), 1<<30): the
// Buffer takes appends at memory speed and compresses what it spills, in
// large pieces, rather than every small append on its way in.
//
// What a returned Append survives is the URI's to say. With memory=SIZE
// the appended bytes stay in memory until the Buffer spills them (or
// Flush, or Close): a crash of the process loses them. Without it, a
// file:// or log:// store has written them to the operating system
// before Append returns, which keeps them through a crash of the
// process (a kill -9); sync=1 (file:// and log:// only, not with
// memory=) makes every write fsync before it returns (LogOptions.Sync,
// FileOptions.Sync), which keeps them through a crash of the machine or
// a power loss, as far as the disk honours fsync. (A File fsyncs the
// files it writes, not yet the directory that names a key's new file.)
// sync takes 1, true, 0 or false.
//
// A URI's password is shown as "xxxxx" in every error of this package;
// Redact and Spec.Redacted give the form to log. (String keeps it, so
// that Parse reads it back.)
package storeuri

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// ErrBadURI is wrapped by every error of Parse.
var ErrBadURI = errors.New("bad store URI")

// Schemes lists the schemes Parse and Open know: the last four once their
// packages are linked in (see Drivers in the package documentation).
var Schemes = []string{"mem", "file", "log", "tcp", "ipc", "redis", "redis-cluster"}

// driverPackages names the package that registers each scheme of a driver.
var driverPackages = map[string]string{
	"tcp":           "github.com/gopartd/partd/client",
	"ipc":           "github.com/gopartd/partd/client",
	"redis":         "github.com/gopartd/partd/redisstore",
	"redis-cluster": "github.com/gopartd/partd/redisstore",
}

// A Driver opens the stores of a scheme that another package implements
// (tcp and ipc: package client; redis and redis-cluster: package
// redisstore), which registers it with Register.
type Driver struct {
	// Open opens the write policy s describes; Open (the package's)
	// adds the memory= and compress= layers over it.
	Open func(s Spec, o Options) (partd.Store, error)
	// Check, if not nil, checks a Spec that Parse has read against the
	// scheme's own rules and fills in its defaults (a Redis namespace's
	// name, its default prefix). Its error is wrapped with ErrBadURI.
	Check func(s *Spec) error
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes the stores of scheme available to Parse and Open, from the
// package that implements them, in its init. scheme is one of tcp, ipc,
// redis, redis-cluster. Register panics if scheme is not one of them, if
// d.Open is nil, or if the scheme is registered twice.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, ok := driverPackages[scheme]; !ok {
		panic("storeuri: Register of scheme " + strconv.Quote(scheme) + ", which is not a driver's")
	}
	if d.Open == nil {
		panic("storeuri: Register of scheme " + scheme + " without Open")
	}
	if _, dup := drivers[scheme]; dup {
		panic("storeuri: Register called twice for scheme " + scheme)
	}
	drivers[scheme] = d
}

// driver returns the registered driver of scheme, or an error naming the
// package to import.
func driver(scheme string) (Driver, error) {
	driversMu.RLock()
	d, ok := drivers[scheme]
	driversMu.RUnlock()
	if !ok {
		return d, fmt.Errorf("%s:// stores are not linked into this program: import _ %q", scheme, driverPackages[scheme])
	}
	return d, nil
}

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
	Sync     bool             // file, log: fsync every write before it returns (not with Memory)
	Compress compress.Setting // a compression layer over the store, under the Buffer

	// redis, redis-cluster: > 0 has every write wait until that many
	// replicas acknowledge it, for up to WaitTimeout (0 means
	// redisstore.DefaultWaitTimeout): redisstore.WithWaitReplicas.
	Wait        int
	WaitTimeout time.Duration
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
		return Spec{}, fmt.Errorf("storeuri: %q: %w: %s", Redact(uri), ErrBadURI, fmt.Sprintf(format, a...))
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return bad("want SCHEME://… with a scheme of %s", strings.Join(Schemes, ", "))
	}
	rest, query, _ := strings.Cut(rest, "?")
	s := Spec{Scheme: strings.ToLower(scheme)}
	if s.isRedis() && strings.Contains(query, "@") {
		// A "?" in a password: what follows is not a query. Say so
		// without quoting any piece of it.
		return bad("a user or password holding ?, #, /, @ or %% must be percent-encoded")
	}
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
		case "sync":
			if s.Scheme != "file" && s.Scheme != "log" {
				return bad("sync is for file:// and log:// only (a server's store syncs if the URI it serves says so)")
			}
			switch strings.ToLower(v) {
			case "1", "true":
				s.Sync = true
			case "0", "false":
				s.Sync = false
			default:
				return bad("sync: %q is not 1, true, 0 or false", v)
			}
		case "prefix":
			if !s.isRedis() {
				return bad("prefix is for redis:// and redis-cluster:// only")
			}
			if v == "" {
				return bad("prefix is empty: a namespace has a name")
			}
			s.Prefix = v
		case "wait":
			if !s.isRedis() {
				return bad("wait is for redis:// and redis-cluster:// only")
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || strconv.Itoa(n) != v {
				return bad("wait: %q is not a number of replicas", v)
			}
			s.Wait = n
		case "wait_timeout":
			if !s.isRedis() {
				return bad("wait_timeout is for redis:// and redis-cluster:// only")
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Millisecond || d > maxWaitTimeout {
				return bad("wait_timeout: %q is not a duration from 1ms to 10m (examples: 500ms, 2s)", v)
			}
			s.WaitTimeout = d
		default:
			return bad("unknown parameter %q (want memory, compress, for file and log sync, for redis prefix, wait, wait_timeout)", name)
		}
	}
	if s.Sync && s.Memory > 0 {
		return bad("sync=1 with memory=: appends would wait in memory, unsynced, until the Buffer spills them; give one or the other")
	}
	if s.WaitTimeout > 0 && s.Wait == 0 {
		return bad("wait_timeout without wait=N (N > 0): nothing would wait")
	}
	if _, ok := driverPackages[s.Scheme]; ok {
		d, err := driver(s.Scheme)
		if err != nil {
			return bad("%v", err)
		}
		if d.Check != nil {
			if err := d.Check(&s); err != nil {
				return bad("%v", err)
			}
		}
	}
	return s, nil
}

// maxWaitTimeout is the longest wait_timeout Parse takes (its error
// message says so too).
const maxWaitTimeout = 10 * time.Minute

func (s Spec) isRedis() bool { return s.Scheme == "redis" || s.Scheme == "redis-cluster" }

// parseRedis parses "[USER[:PASS]@]HOST:PORT[,HOST:PORT…][/DB]" into s.
func (s *Spec) parseRedis(rest string) error {
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, pass, _ := strings.Cut(rest[:at], ":")
		var err error
		// The unescaping errors quote the bad escape: a piece of the
		// password. Say only where it is.
		if s.User, err = url.PathUnescape(user); err != nil {
			return errors.New("user: a % not followed by two hexadecimal digits (percent-encode % as %25)")
		}
		if s.Password, err = url.PathUnescape(pass); err != nil {
			return errors.New("password: a % not followed by two hexadecimal digits (percent-encode % as %25)")
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

// Redact returns uri with the password of its user information, if any,
// replaced by "xxxxx", as url.URL.Redacted does, for logs and messages. It
// works on any string, a URI Parse refuses included: for every scheme but
// file, log, ipc and mem (whose paths may hold "@" and ":"), everything
// between "://" and the last "@" is user information, so that a password
// holding an unencoded "?" or "/" is hidden too. User information without
// a ":" is hidden whole, since redis-cli reads "redis://SECRET@host" as a
// password.
func Redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		scheme, rest = "", uri
	}
	switch strings.ToLower(scheme) {
	case "file", "log", "ipc", "mem":
		return uri
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return uri
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass || strings.ContainsAny(user, "/?#") {
		user = "xxxxx"
	} else {
		user += ":xxxxx"
	}
	if ok {
		scheme += "://"
	}
	return scheme + user + rest[at:]
}

// Redacted returns the URI of s as String does, with the password replaced
// by "xxxxx" (see Redact): the form for logs and summaries.
func (s Spec) Redacted() string { return Redact(s.String()) }

// String returns the URI of s, which Parse turns back into s. It holds
// the password, if any: use Redacted for anything shown.
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
		if s.Prefix != "" {
			q.Set("prefix", s.Prefix)
		}
		if s.Wait > 0 {
			q.Set("wait", strconv.Itoa(s.Wait))
			if s.WaitTimeout > 0 {
				q.Set("wait_timeout", s.WaitTimeout.String())
			}
		}
	}
	if s.Memory > 0 {
		q.Set("memory", strconv.FormatInt(s.Memory, 10))
	}
	if s.Sync {
		q.Set("sync", "1")
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
	if s.Sync && (s.Memory > 0 || s.Scheme != "file" && s.Scheme != "log") {
		return nil, fmt.Errorf("storeuri: %w: sync is for file:// and log:// without memory=", ErrBadURI)
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
			store, err = partd.OpenFile(s.Dir, &partd.FileOptions{NoCreate: o.Existing, Sync: s.Sync})
		} else {
			store, err = partd.OpenLog(s.Dir, &partd.LogOptions{NoCreate: o.Existing, Sync: s.Sync})
		}
		if err != nil {
			return nil, err
		}
	case "tcp", "ipc", "redis", "redis-cluster":
		d, err := driver(s.Scheme)
		if err != nil {
			return nil, fmt.Errorf("storeuri: %w: %v", ErrBadURI, err)
		}
		if store, err = d.Open(s, o); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("storeuri: %w: unknown scheme %q", ErrBadURI, s.Scheme)
	}
	wrapped, err := s.Compress.Wrap(store)
	if err != nil {
		store.Close()
		return nil, err
	}
	if s.Memory > 0 {
		wrapped = partd.NewBuffer(partd.NewOffHeapDict(), wrapped, s.Memory)
	}
	return wrapped, nil
}

// ParseSize parses a byte count: "1048576", "512KiB", "1GiB", "1.5GB",
// "64MB". The number is decimal digits with an optional fraction (no sign,
// exponent, NaN or Inf); the unit is B, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB,
// E/EiB (powers of 1024) or KB, MB, GB, TB, PB, EB (powers of 1000), in
// any case. A fraction of a byte is cut off, but a size above 0 that is
// less than one byte is an error, as is one above math.MaxInt64 (8 EiB):
// nothing overflows.
func ParseSize(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%q is not a size: %s (examples: 1048576, 512KiB, 1GiB, 1.5GB)", s, why)
	}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if n := len(t) - len(u.suffix); n > 0 && strings.EqualFold(t[n:], u.suffix) {
			t, mult = strings.TrimSpace(t[:n]), u.mult
			break
		}
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || !decimalDigits(whole) || !decimalDigits(frac) {
		return bad("want decimal digits, an optional fraction and a unit")
	}
	v, ok := new(big.Rat).SetString(cmp.Or(whole, "0") + "." + cmp.Or(frac, "0"))
	if !ok {
		return bad("want decimal digits, an optional fraction and a unit")
	}
	v.Mul(v, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(v.Num(), v.Denom())
	switch {
	case !n.IsInt64():
		return bad("larger than the largest size, 8 EiB")
	case n.Sign() == 0 && v.Sign() != 0:
		return bad("less than one byte")
	}
	return n.Int64(), nil
}

// sizeUnits are ParseSize's units, each suffix before any suffix of it.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50}, {"EiB", 1 << 60},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"EB", 1e18},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"P", 1 << 50}, {"E", 1 << 60}, {"B", 1},
}

// decimalDigits reports whether s is made only of the digits 0 to 9 (an
// empty s is).
func decimalDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FormatSize formats n bytes as ParseSize reads them back: in the largest
// binary unit that divides it ("1MiB", "1536KiB"), or in bytes ("1000").
func FormatSize(n int64) string {
	for i := len(binaryUnits) - 1; i >= 0; i-- {
		if u := binaryUnits[i]; n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

var binaryUnits = sizeUnits[:6]
