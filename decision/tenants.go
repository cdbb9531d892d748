package decision

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/policy"
)

// tenantEntry is what the hot path keeps per tenant, in one place and
// immutable: the tenant id (inline, so finding the entry needs no other
// memory), the key reference, the counts, the instant the entry expires and
// a copy of its compiled decider. A change replaces the entry. The fields
// the hot path reads fill exactly two cache lines (sizes are checked by a
// test).
type tenantEntry struct {
	idBuf [idInline]byte
	// idLen is the length of the id in idBuf; -1 when the id is longer or
	// empty (then it is the suffix of keyRef).
	idLen int8
	// stale marks an entry whose tenant state changed: the next request
	// reloads it.
	stale  bool
	keyRef string
	counts *tenantCounts
	// until is when the entry's state stops holding by itself, in Unix
	// nanoseconds (td.Until(): the end of a terminating customer's
	// contract): a request at or after it reloads.
	until int64
	td    policy.TenantDecider
	// gen names this version of the entry (not read by the hot path).
	gen uint64
	_   [entryPad]byte
}

// entryPad makes an entry three whole cache lines: entries are then
// allocated on line boundaries (size class 192), so the hot fields take
// exactly the first two.
const entryPad = 192 - 152

// idInline is the longest tenant id kept inline in its entry (tenant ids
// are 30 bytes).
const idInline = 30

func newEntry(id string) *tenantEntry {
	e := &tenantEntry{keyRef: keys.TenantKeyRef(id), idLen: -1}
	if len(id) <= idInline && len(id) > 0 {
		e.idLen = int8(copy(e.idBuf[:], id))
	}
	return e
}

// keyRefPrefix starts every key reference, before the tenant id.
var keyRefPrefix = keys.TenantKeyRef("")

// id is the tenant's id.
func (e *tenantEntry) id() string { return e.keyRef[len(keyRefPrefix):] }

// is reports whether the entry is tenant id's, reading the id inline.
func (e *tenantEntry) is(id string) bool {
	if e.idLen < 0 {
		return e.id() == id
	}
	return int(e.idLen) == len(id) && string(e.idBuf[:e.idLen]) == id
}

// tenantIndex finds a tenant's entry on the hot path. With thousands of
// customers asked about at random, every per-tenant structure is cold in
// the CPU caches, and the cost of a decision is the number of cache lines
// it touches that are not shared by all tenants. A Go map of pointers to
// deciders costs several dependent misses (the hash group, the stored
// key's bytes, the value, the decider); here a lookup reads one slot of a
// compact open-addressing table (hash and entry pointer, 16 bytes: the
// tables of ten thousand tenants stay in the CPU's cache) and then the
// entry, whose first cache line holds the id to compare and the second the
// compiled decider.
//
// Reads take no lock: each shard publishes an immutable table. Adding a
// tenant or replacing an entry copies its shard's table; both happen only
// when a tenant is first asked about or its state changes.
type tenantIndex struct {
	seed   maphash.Seed
	gens   atomic.Uint64
	shards [indexShards]indexShard
}

const indexShards = 64

type indexShard struct {
	mu    sync.Mutex // serialises changes
	slots atomic.Pointer[[]indexSlot]
	n     int
	_     [40]byte // keep neighbouring shards apart
}

type indexSlot struct {
	hash uint64
	e    *tenantEntry
}

func newTenantIndex() *tenantIndex { return &tenantIndex{seed: maphash.MakeSeed()} }

// load returns the tenant's entry, or nil. The entry is immutable.
func (x *tenantIndex) load(id string) *tenantEntry {
	h := maphash.String(x.seed, id)
	p := x.shards[h%indexShards].slots.Load()
	if p == nil {
		return nil
	}
	s := *p
	mask := uint64(len(s) - 1)
	for i := (h / indexShards) & mask; ; i = (i + 1) & mask {
		sl := &s[i]
		if sl.e == nil {
			return nil
		}
		if sl.hash == h && sl.e.is(id) {
			return sl.e
		}
	}
}

// update replaces the tenant's entry with f(current entry or nil) and
// returns it, atomically with respect to other updates. f returns a new
// entry (newEntry; not to be modified once returned), or nil or the current
// one to keep it (a missing entry stays missing; an existing one cannot be
// removed).
func (x *tenantIndex) update(id string, f func(cur *tenantEntry) *tenantEntry) *tenantEntry {
	h := maphash.String(x.seed, id)
	sh := &x.shards[h%indexShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := x.load(id)
	e := f(cur)
	if e == nil || e == cur {
		return cur
	}
	e.gen = x.gens.Add(1)
	var old []indexSlot
	if p := sh.slots.Load(); p != nil {
		old = *p
	}
	n := sh.n
	if cur == nil {
		n++
	}
	size := max(8, len(old))
	for n*2 > size {
		size *= 2
	}
	s := make([]indexSlot, size)
	put := func(sl indexSlot) {
		mask := uint64(size - 1)
		for i := (sl.hash / indexShards) & mask; ; i = (i + 1) & mask {
			if s[i].e == nil {
				s[i] = sl
				return
			}
		}
	}
	for _, sl := range old {
		if sl.e != nil && sl.e != cur {
			put(sl)
		}
	}
	put(indexSlot{h, e})
	sh.n = n
	sh.slots.Store(&s)
	return e
}

// each calls f for every entry.
func (x *tenantIndex) each(f func(e *tenantEntry)) {
	for i := range x.shards {
		if p := x.shards[i].slots.Load(); p != nil {
			for _, sl := range *p {
				if sl.e != nil {
					f(sl.e)
				}
			}
		}
	}
}
