package keypath

// Tree is a set of keys that detects conflicts between a key and a tuple key
// under it ("x" and "x/y"). It is not safe for concurrent use; its owner
// guards it.
type Tree struct {
	keys map[string]struct{}
	dirs map[string]int // number of keys strictly under each prefix
}

// NewTree returns an empty Tree.
func NewTree() *Tree {
	return &Tree{keys: make(map[string]struct{}), dirs: make(map[string]int)}
}

// Has reports whether key is in the set.
func (t *Tree) Has(key string) bool { _, ok := t.keys[key]; return ok }

// Len returns the number of keys in the set.
func (t *Tree) Len() int { return len(t.keys) }

// Conflict returns a stored key that key cannot live beside, or "" if none:
// a stored key that is a parent of key, or any stored key under key.
func (t *Tree) Conflict(key string) string {
	if _, ok := t.keys[key]; ok {
		return ""
	}
	for p := range Parents(key) {
		if _, ok := t.keys[p]; ok {
			return p
		}
	}
	if t.dirs[key] > 0 {
		return key + "/…"
	}
	return ""
}

// Add puts key in the set. The caller has checked Conflict.
func (t *Tree) Add(key string) {
	if _, ok := t.keys[key]; ok {
		return
	}
	t.keys[key] = struct{}{}
	for p := range Parents(key) {
		t.dirs[p]++
	}
}

// Remove takes key out of the set.
func (t *Tree) Remove(key string) {
	if _, ok := t.keys[key]; !ok {
		return
	}
	delete(t.keys, key)
	for p := range Parents(key) {
		if t.dirs[p]--; t.dirs[p] == 0 {
			delete(t.dirs, p)
		}
	}
}

// Clear empties the set.
func (t *Tree) Clear() {
	clear(t.keys)
	clear(t.dirs)
}
