// Package sizeheap is an indexed max-heap of byte counts by key: Buffer uses
// it to find the largest keys to spill. It is not safe for concurrent use;
// its owner guards it.
package sizeheap

import "container/heap"

type entry struct {
	key  string
	size int64
}

// Heap tracks a size per key and yields the largest first.
type Heap struct {
	h   items
	pos map[string]int // index of each key in h
}

type items struct {
	e   []entry
	pos map[string]int
}

func (s items) Len() int           { return len(s.e) }
func (s items) Less(i, j int) bool { return s.e[i].size > s.e[j].size }
func (s items) Swap(i, j int) {
	s.e[i], s.e[j] = s.e[j], s.e[i]
	s.pos[s.e[i].key] = i
	s.pos[s.e[j].key] = j
}
func (s *items) Push(x any) {
	e := x.(entry)
	s.pos[e.key] = len(s.e)
	s.e = append(s.e, e)
}
func (s *items) Pop() any {
	e := s.e[len(s.e)-1]
	s.e = s.e[:len(s.e)-1]
	delete(s.pos, e.key)
	return e
}

// New returns an empty Heap.
func New() *Heap {
	pos := make(map[string]int)
	return &Heap{h: items{pos: pos}, pos: pos}
}

// Len returns the number of keys.
func (h *Heap) Len() int { return len(h.h.e) }

// Size returns key's size, 0 if absent.
func (h *Heap) Size(key string) int64 {
	if i, ok := h.pos[key]; ok {
		return h.h.e[i].size
	}
	return 0
}

// Add adds delta to key's size, inserting the key if absent.
func (h *Heap) Add(key string, delta int64) {
	if i, ok := h.pos[key]; ok {
		h.h.e[i].size += delta
		heap.Fix(&h.h, i)
		return
	}
	heap.Push(&h.h, entry{key, delta})
}

// Remove takes key out and returns its size.
func (h *Heap) Remove(key string) int64 {
	i, ok := h.pos[key]
	if !ok {
		return 0
	}
	return heap.Remove(&h.h, i).(entry).size
}

// Pop removes and returns the largest key.
func (h *Heap) Pop() (key string, size int64, ok bool) {
	if len(h.h.e) == 0 {
		return "", 0, false
	}
	e := heap.Pop(&h.h).(entry)
	return e.key, e.size, true
}

// Clear removes every key.
func (h *Heap) Clear() {
	h.h.e = h.h.e[:0]
	clear(h.pos)
}
