// Package shardmap is a concurrent map from strings to values for read-heavy
// hot paths with many keys: Go maps in shards, each behind a read-write
// lock. A lookup hashes once and reads one Go map, which stays a few cache
// lines even with many thousands of keys (sync.Map's hash trie walks a
// pointer per level, each a likely cache miss).
package shardmap

import (
	"hash/maphash"
	"sync"
)

const shards = 256

// Map maps strings to values of V. The zero value is not usable; use New.
type Map[V any] struct {
	seed   maphash.Seed
	shards [shards]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

// New returns an empty map.
func New[V any]() *Map[V] {
	m := &Map[V]{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[string]V{}
	}
	return m
}

func (m *Map[V]) shard(k string) *shard[V] {
	return &m.shards[maphash.String(m.seed, k)%shards]
}

// Load returns the value of k.
func (m *Map[V]) Load(k string) (V, bool) {
	s := m.shard(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

// Store sets the value of k.
func (m *Map[V]) Store(k string, v V) {
	s := m.shard(k)
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}

// Update sets the value of k to f(current value, whether there is one) and
// returns it, atomically with respect to other writers of k.
func (m *Map[V]) Update(k string, f func(cur V, ok bool) V) V {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[k]
	v := f(cur, ok)
	s.m[k] = v
	return v
}

// Delete removes k.
func (m *Map[V]) Delete(k string) {
	s := m.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// Range calls f for every key and value until f returns false. It sees a
// snapshot of each shard, taken one shard at a time.
func (m *Map[V]) Range(f func(k string, v V) bool) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		keys := make([]string, 0, len(s.m))
		vals := make([]V, 0, len(s.m))
		for k, v := range s.m {
			keys = append(keys, k)
			vals = append(vals, v)
		}
		s.mu.RUnlock()
		for j := range keys {
			if !f(keys[j], vals[j]) {
				return
			}
		}
	}
}
