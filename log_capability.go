package partd

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

var (
	_ KeySizer     = (*Log)(nil)
	_ PrefixLister = (*Log)(nil)
	_ KeyPager     = (*Log)(nil)
	_ Popper       = (*Log)(nil)
)

// Sizes returns the number of bytes each key holds, from the index.
func (l *Log) Sizes(keys ...string) ([]int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usableLocked("sizes"); err != nil {
		return nil, err
	}
	sizes := make([]int64, len(keys))
	for i, k := range keys {
		if e := l.index[k]; e != nil {
			sizes[i] = e.size
		}
	}
	return sizes, nil
}

// KeysPrefix returns the keys that start with prefix, sorted, from the
// index.
func (l *Log) KeysPrefix(prefix string) ([]string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usableLocked("keys"); err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.index {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// KeysPage returns, sorted, at most limit keys that start with prefix and
// sort after after (see KeyPager). Each page scans the index once.
func (l *Log) KeysPage(prefix, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("partd: keys page: limit %d is not positive", limit)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usableLocked("keys"); err != nil {
		return nil, err
	}
	return smallestAfter(maps.Keys(l.index), prefix, after, limit), nil
}

// Pop reads the keys and deletes them with one delete record, holding the
// writers' lock throughout, so no append lands between the read and the
// delete. After a crash the keys are there whole (the delete record was not
// written) or gone.
func (l *Log) Pop(keys ...string) ([][]byte, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("pop")
	l.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	vals, err := l.GetAppend(nil, keys...)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	items := l.heldLocked(keys)
	l.mu.RUnlock()
	if len(items) == 0 {
		return vals, nil
	}
	if _, _, err := l.writeRecord(recDelete, items); err != nil {
		return nil, err
	}
	l.mu.Lock()
	for _, it := range items {
		l.removeKeyLocked(it.key)
	}
	l.mu.Unlock()
	l.maybeCompact()
	return vals, nil
}
