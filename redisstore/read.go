package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gopartd/partd"
	"github.com/redis/go-redis/v9"
)

// maxReadRounds bounds how often Get reads a key held in parts again
// because a writer changed it between reading its manifest and its parts.
const maxReadRounds = 16

// Get returns each key's bytes, in the order asked; an unknown (or
// invalid) key yields nil. Each key is read atomically: its bytes as of
// some moment during the call, never a mix of two writes. Keys are not
// read at one moment together.
func (s *Store) Get(keys ...string) ([][]byte, error) {
	return s.getAppend("get", nil, keys)
}

// GetAppend appends each key's bytes to dst[i] (see partd.GetAppender).
func (s *Store) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	if dst != nil && len(dst) != len(keys) {
		return nil, fmt.Errorf("redisstore: get: %d buffers for %d keys", len(dst), len(keys))
	}
	return s.getAppend("get", dst, keys)
}

func (s *Store) getAppend(op string, dst [][]byte, keys []string) ([][]byte, error) {
	if err := s.check(op); err != nil {
		return nil, err
	}
	if dst == nil {
		dst = make([][]byte, len(keys))
	}
	var pending []int
	for i, k := range keys {
		if partd.ValidateKey(k) == nil {
			pending = append(pending, i)
		}
	}
	for round := 0; len(pending) > 0; round++ {
		if round == maxReadRounds {
			return nil, fmt.Errorf("redisstore: %s %q: changed %d times while being read", op, keys[pending[0]], round)
		}
		// Most keys are one string: one GET. A key in parts answers
		// WRONGTYPE, its data name holding a manifest.
		ctx, cancel := s.ctx()
		pipe := s.c.Pipeline()
		gets := make([]*redis.StringCmd, len(pending))
		for j, i := range pending {
			gets[j] = pipe.Get(ctx, s.dataName(keys[i]))
		}
		_, _ = pipe.Exec(ctx)
		cancel()
		var inParts []int
		for j, i := range pending {
			v, err := gets[j].Result()
			switch {
			case err == nil:
				dst[i] = appendKeep(dst[i], v)
			case errors.Is(err, redis.Nil):
			case redis.HasErrorPrefix(err, "WRONGTYPE"):
				inParts = append(inParts, i)
			default:
				return nil, s.wrap(op, err)
			}
		}
		var err error
		if pending, err = s.readParts(op, dst, keys, inParts); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// part is one entry of a key's manifest.
type part struct {
	id  string
	len int64
}

// readManifests reads the manifests of keys[i] for i in which. A key whose
// data name is no longer a list has a nil manifest.
func (s *Store) readManifests(op string, keys []string, which []int) ([][]part, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	pipe := s.c.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(which))
	for j, i := range which {
		cmds[j] = pipe.LRange(ctx, s.dataName(keys[i]), 0, -1)
	}
	_, _ = pipe.Exec(ctx)
	out := make([][]part, len(which))
	for j, i := range which {
		entries, err := cmds[j].Result()
		if redis.HasErrorPrefix(err, "WRONGTYPE") {
			continue
		}
		if err != nil {
			return nil, s.wrap(op, err)
		}
		for _, m := range entries {
			n, id, ok := strings.Cut(m, ":")
			size, err := strconv.ParseInt(n, 10, 64)
			if !ok || err != nil || size <= 0 || id == "" {
				return nil, fmt.Errorf("redisstore: %s %q: %w: bad manifest entry %q", op, keys[i], partd.ErrCorrupt, m)
			}
			out[j] = append(out[j], part{id: id, len: size})
		}
	}
	return out, nil
}

// readParts reads the keys held in parts, keys[i] for i in which, into
// dst, and returns those that changed while being read.
func (s *Store) readParts(op string, dst [][]byte, keys []string, which []int) ([]int, error) {
	if len(which) == 0 {
		return nil, nil
	}
	manifests, err := s.readManifests(op, keys, which)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pipe := s.c.Pipeline()
	cmds := make([][]*redis.StringCmd, len(which))
	for j, i := range which {
		for _, p := range manifests[j] {
			// A part only grows until it is deleted, and its id is never
			// reused: its first len bytes are what the manifest meant.
			cmds[j] = append(cmds[j], pipe.GetRange(ctx, s.partName(keys[i], p.id), 0, p.len-1))
		}
	}
	_, _ = pipe.Exec(ctx)
	var again []int
	for j, i := range which {
		if manifests[j] == nil {
			again = append(again, i) // it is a string again, or gone
			continue
		}
		vals := make([]string, len(cmds[j]))
		whole := true
		for n, cmd := range cmds[j] {
			v, err := cmd.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, s.wrap(op, err)
			}
			if int64(len(v)) != manifests[j][n].len {
				whole = false // replaced or deleted since the manifest was read
				break
			}
			vals[n] = v
		}
		if !whole {
			again = append(again, i)
			continue
		}
		dst[i] = appendKeep(dst[i], vals...)
	}
	return again, nil
}

// appendKeep appends vals to dst, growing it at most once and keeping the
// spare capacity it had beyond its length.
func appendKeep(dst []byte, vals ...string) []byte {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	if len(dst)+n > cap(dst) {
		grown := make([]byte, len(dst), len(dst)+n+(cap(dst)-len(dst)))
		copy(grown, dst)
		dst = grown
	}
	for _, v := range vals {
		dst = append(dst, v...)
	}
	return dst
}

// Sizes returns the number of bytes each key holds, 0 for an unknown key,
// without reading them: STRLEN for a key in one string, its manifest for a
// key in parts.
func (s *Store) Sizes(keys ...string) ([]int64, error) {
	if err := s.check("sizes"); err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	var pending []int
	for i, k := range keys {
		if partd.ValidateKey(k) == nil {
			pending = append(pending, i)
		}
	}
	for round := 0; len(pending) > 0; round++ {
		if round == maxReadRounds {
			return nil, fmt.Errorf("redisstore: sizes %q: changed %d times while being read", keys[pending[0]], round)
		}
		ctx, cancel := s.ctx()
		pipe := s.c.Pipeline()
		cmds := make([]*redis.IntCmd, len(pending))
		for j, i := range pending {
			cmds[j] = pipe.StrLen(ctx, s.dataName(keys[i]))
		}
		_, _ = pipe.Exec(ctx)
		cancel()
		var inParts []int
		for j, i := range pending {
			n, err := cmds[j].Result()
			switch {
			case err == nil:
				out[i] = n
			case redis.HasErrorPrefix(err, "WRONGTYPE"):
				inParts = append(inParts, i)
			default:
				return nil, s.wrap("sizes", err)
			}
		}
		pending = nil
		if len(inParts) == 0 {
			break
		}
		manifests, err := s.readManifests("sizes", keys, inParts)
		if err != nil {
			return nil, err
		}
		for j, i := range inParts {
			if manifests[j] == nil {
				pending = append(pending, i)
				continue
			}
			for _, p := range manifests[j] {
				out[i] += p.len
			}
		}
	}
	return out, nil
}

// Keys returns every key of the namespace, sorted. It SCANs every master
// (of the whole database: the cost grows with every key there, not only
// this namespace's), so it is not a snapshot: a key written or deleted
// while it runs may or may not be listed.
func (s *Store) Keys() ([]string, error) {
	if err := s.check("keys"); err != nil {
		return nil, err
	}
	set := make(map[string]struct{})
	err := s.scan(s.ns+":"+string(rune(kindData))+"{*", func(names []string) {
		for _, n := range names {
			if k, ok := s.keyOf(n); ok {
				set[k] = struct{}{}
			}
		}
	})
	if err != nil {
		return nil, s.wrap("keys", err)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// scanCount is the COUNT hint of each SCAN step.
const scanCount = 1000

// scan calls fn, one call at a time, with the names matching pattern on
// every master, each SCAN step bounded by the timeout.
func (s *Store) scan(pattern string, fn func(names []string)) error {
	var mu sync.Mutex
	ctx, cancel := s.ctx()
	defer cancel()
	return s.forEachNode(ctx, func(_ context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			ctx, cancel := s.ctx()
			names, next, err := c.Scan(ctx, cursor, pattern, scanCount).Result()
			cancel()
			if err != nil {
				return err
			}
			mu.Lock()
			fn(names)
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}
