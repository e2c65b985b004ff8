package partd

import (
	"errors"
	"fmt"
	"slices"
)

var (
	_ KeySizer     = (*Buffer)(nil)
	_ PrefixLister = (*Buffer)(nil)
	_ KeyPager     = (*Buffer)(nil)
	_ Popper       = (*Buffer)(nil)
	_ BufferStater = (*Buffer)(nil)
)

// Sizes returns the number of bytes each key holds: its size in the slow
// store plus its size in the fast one, each as that store's Sizes tells
// (see the helper Sizes), without reading the values where the stores
// know their sizes.
func (b *Buffer) Sizes(keys ...string) ([]int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("sizes"); err != nil {
		return nil, err
	}
	slow, err := Sizes(b.slow, keys...)
	if err != nil {
		return nil, err
	}
	fast, err := Sizes(b.fast, keys...)
	if err != nil {
		return nil, err
	}
	if len(slow) != len(keys) || len(fast) != len(keys) {
		return nil, fmt.Errorf("partd: sizes: stores returned %d and %d sizes for %d keys", len(slow), len(fast), len(keys))
	}
	for i := range slow {
		slow[i] += fast[i]
	}
	return slow, nil
}

// KeysPrefix returns the keys of both stores that start with prefix,
// sorted.
func (b *Buffer) KeysPrefix(prefix string) ([]string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("keys"); err != nil {
		return nil, err
	}
	slow, err := KeysPrefix(b.slow, prefix)
	if err != nil {
		return nil, err
	}
	fast, err := KeysPrefix(b.fast, prefix)
	if err != nil {
		return nil, err
	}
	return mergeKeys(slow, fast, -1), nil
}

// KeysPage returns, sorted, at most limit keys of either store that start
// with prefix and sort after after: the first limit of the merge of a page
// of each. Where either store is not a KeyPager (a File) it returns
// errors.ErrUnsupported, so that the helpers list the keys with KeysPrefix
// instead of listing the File's directory once per page.
func (b *Buffer) KeysPage(prefix, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("partd: keys page: limit %d is not positive", limit)
	}
	_, fastPages := Find[KeyPager](b.fast)
	_, slowPages := Find[KeyPager](b.slow)
	if !fastPages || !slowPages {
		return nil, fmt.Errorf("partd: keys page: a store of the buffer lists no pages: %w", errors.ErrUnsupported)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("keys"); err != nil {
		return nil, err
	}
	slow, err := KeysPage(b.slow, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	fast, err := KeysPage(b.fast, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	return mergeKeys(slow, fast, limit), nil
}

// mergeKeys merges two sorted lists of keys into one without repeats, cut
// to limit keys if limit is not negative.
func mergeKeys(a, b []string, limit int) []string {
	keys := make([]string, 0, len(a)+len(b))
	keys = append(append(keys, a...), b...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if limit >= 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys
}

// Pop returns each key's bytes, from the slow store then from the fast
// one, and deletes the keys from both, holding the Buffer's lock
// throughout: no Append through the Buffer lands between the read and the
// delete.
func (b *Buffer) Pop(keys ...string) ([][]byte, error) {
	if err := b.lockForChange("pop"); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out, err := b.getLocked(nil, keys)
	if err != nil {
		return nil, err
	}
	for i, v := range out {
		if len(v) == 0 {
			out[i] = nil
		}
	}
	err = errors.Join(b.fast.Delete(keys...), b.slow.Delete(keys...))
	for _, k := range keys {
		b.nbytes -= b.sizes.Remove(k)
		b.tree.Remove(k)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
