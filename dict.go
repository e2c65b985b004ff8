package partd

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gopartd/partd/internal/keypath"
)

// Dict is an in-memory Store, Python partd's Dict. The zero value is not
// usable; call NewDict.
type Dict struct {
	mu     sync.RWMutex // guards everything below
	closed bool
	data   map[string][]byte
	tree   *keypath.Tree
	nbytes int64
}

var _ Store = (*Dict)(nil)

// NewDict returns an empty in-memory store.
func NewDict() *Dict {
	return &Dict{data: make(map[string][]byte), tree: keypath.NewTree()}
}

// Append adds each value to the end of its key. It copies the values.
func (d *Dict) Append(data map[string][]byte) error {
	if err := validateBatch(data); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("partd: append: %w", ErrClosed)
	}
	for k, v := range data {
		if len(v) == 0 {
			continue
		}
		if c := d.tree.Conflict(k); c != "" {
			return fmt.Errorf("partd: append %q: %w: conflicts with stored key %q", k, ErrInvalidKey, c)
		}
	}
	for k, v := range data {
		if len(v) == 0 {
			continue
		}
		old, ok := d.data[k]
		if !ok {
			d.tree.Add(k)
		}
		d.data[k] = append(old, v...)
		d.nbytes += int64(len(v))
	}
	return nil
}

// Get returns a copy of each key's bytes.
func (d *Dict) Get(keys ...string) ([][]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, fmt.Errorf("partd: get: %w", ErrClosed)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if v, ok := d.data[k]; ok {
			out[i] = slices.Clone(v)
		}
	}
	return out, nil
}

// peek returns the stored slices of keys without copying them. The caller
// must not change them and must own every change to d while it uses them.
func (d *Dict) peek(keys []string) [][]byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = d.data[k]
	}
	return out
}

// Set replaces a key's bytes with a copy of value.
func (d *Dict) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("partd: set: %w", ErrClosed)
	}
	if len(value) == 0 {
		d.deleteLocked(key)
		return nil
	}
	if c := d.tree.Conflict(key); c != "" {
		return fmt.Errorf("partd: set %q: %w: conflicts with stored key %q", key, ErrInvalidKey, c)
	}
	d.deleteLocked(key)
	d.tree.Add(key)
	d.data[key] = slices.Clone(value)
	d.nbytes += int64(len(value))
	return nil
}

// Delete removes keys.
func (d *Dict) Delete(keys ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("partd: delete: %w", ErrClosed)
	}
	for _, k := range keys {
		d.deleteLocked(k)
	}
	return nil
}

// deleteLocked removes key. d.mu must be held.
func (d *Dict) deleteLocked(key string) {
	if v, ok := d.data[key]; ok {
		d.nbytes -= int64(len(v))
		delete(d.data, key)
		d.tree.Remove(key)
	}
}

// Keys returns every key, sorted.
func (d *Dict) Keys() ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, fmt.Errorf("partd: keys: %w", ErrClosed)
	}
	keys := make([]string, 0, len(d.data))
	for k := range d.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// Drop removes every key.
func (d *Dict) Drop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("partd: drop: %w", ErrClosed)
	}
	d.data = make(map[string][]byte)
	d.tree.Clear()
	d.nbytes = 0
	return nil
}

// Size returns the number of bytes held.
func (d *Dict) Size() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.nbytes
}

// Close releases the memory. Later calls return ErrClosed.
func (d *Dict) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.data, d.tree, d.nbytes = nil, nil, 0
	return nil
}
