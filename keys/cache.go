package keys

import (
	"container/list"
	"errors"
	"sync"
	"time"

	"github.com/verwerker/verwerker"
)

// Cache holds unwrapped data keys in memory, so that sealing and opening a
// subject's records costs no keyring round trip. It is bounded twice: at
// most Size keys (least recently used go first) and each key for at most
// TTL after it was unwrapped, however often it is used. A key's bytes are
// overwritten with zeros when it leaves the cache, or, if someone still
// holds it, when the last holder releases it.
//
// Go cannot wipe everything: the AES key schedule that crypto/aes derives
// for each Seal and Open is garbage the collector frees, not zeros (the
// cache keeps that window to one operation by never keeping a cipher), and
// so are the HTTP and JSON buffers a data key arrives in from Vault.
type Cache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	clock verwerker.Clock
	items map[cacheKey]*list.Element
	lru   *list.List // front: most recently used; values are *entry
	timer *time.Timer
}

type cacheKey struct{ tenant, wrapped string }

type entry struct {
	k       cacheKey
	key     []byte
	version int
	expires time.Time
	refs    int
	gone    bool // out of the cache; zeroed when refs reaches 0
}

// Default cache bounds.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = time.Minute
)

// NewCache returns an empty cache holding at most size keys (DefaultCacheSize
// when size <= 0), each for at most ttl (DefaultCacheTTL when ttl <= 0).
// clock may be nil for the system clock.
func NewCache(size int, ttl time.Duration, clock verwerker.Clock) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	if clock == nil {
		clock = verwerker.SystemClock{}
	}
	return &Cache{size: size, ttl: ttl, clock: clock, items: map[cacheKey]*list.Element{}, lru: list.New()}
}

// Key is a data key borrowed from the cache: Seal and Open work until
// Release. Its bytes stay valid while it is held, even if the cache evicts
// it meanwhile. A Key is safe for concurrent use; Release it exactly once.
type Key struct {
	c       *Cache
	e       *entry
	wrapped []byte
	mu      sync.Mutex
	done    bool
}

// Wrapped returns the wrapped form of the key, the one to store.
func (k *Key) Wrapped() []byte { return append([]byte(nil), k.wrapped...) }

// Version returns the tenant key version the wrapped form was made under.
func (k *Key) Version() int { return k.e.version }

// Seal encrypts plaintext with this key, bound to aad (see Seal).
func (k *Key) Seal(aad AAD, plaintext []byte) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return Seal(k.e.key, aad, plaintext)
}

// Open decrypts what Seal made with this key and aad (see Open).
func (k *Key) Open(aad AAD, sealed []byte) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return Open(k.e.key, aad, sealed)
}

func (k *Key) check() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return verwerker.Internal("keys", errors.New("use of a released key"))
	}
	return nil
}

// Release returns the key to the cache. Later calls do nothing.
func (k *Key) Release() {
	k.mu.Lock()
	done := k.done
	k.done = true
	k.mu.Unlock()
	if !done {
		k.c.release(k.e)
	}
}

// ReleaseAll releases every non-nil key in ks.
func ReleaseAll(ks []*Key) {
	for _, k := range ks {
		if k != nil {
			k.Release()
		}
	}
}

// get borrows the key cached for tenant and wrapped, if any.
func (c *Cache) get(tenant string, wrapped []byte) *Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[cacheKey{tenant, string(wrapped)}]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !c.clock.Now().Before(e.expires) {
		c.removeLocked(el)
		return nil
	}
	c.lru.MoveToFront(el)
	e.refs++
	return &Key{c: c, e: e, wrapped: wrapped}
}

// put caches key (32 bytes, which the cache now owns and will zero) for
// tenant and wrapped, and lends it out. If another caller cached the same
// key meanwhile, key is zeroed and the cached one is lent instead.
func (c *Cache) put(tenant string, wrapped, key []byte, version int) *Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{tenant, string(wrapped)}
	now := c.clock.Now()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry)
		if now.Before(e.expires) {
			clear(key)
			c.lru.MoveToFront(el)
			e.refs++
			return &Key{c: c, e: e, wrapped: wrapped}
		}
		c.removeLocked(el)
	}
	e := &entry{k: k, key: key, version: version, expires: now.Add(c.ttl), refs: 1}
	c.items[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		c.removeLocked(c.lru.Back())
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(c.ttl, c.sweepTimer)
	}
	return &Key{c: c, e: e, wrapped: wrapped}
}

func (c *Cache) release(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.gone && e.refs == 0 {
		clear(e.key)
	}
}

// removeLocked takes an entry out of the cache and zeroes its key unless it
// is lent out.
func (c *Cache) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.items, e.k)
	e.gone = true
	if e.refs == 0 {
		clear(e.key)
	}
}

// Sweep removes every expired key. The cache runs it by itself TTL after a
// key arrives; tests with a manual clock call it.
func (c *Cache) Sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked()
}

func (c *Cache) sweepLocked() {
	now := c.clock.Now()
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if !now.Before(el.Value.(*entry).expires) {
			c.removeLocked(el)
		}
		el = prev
	}
}

func (c *Cache) sweepTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked()
	c.timer = nil
	if c.lru.Len() > 0 {
		c.timer = time.AfterFunc(c.ttl/2, c.sweepTimer)
	}
}

// Forget removes the key cached for tenant and wrapped, for example when a
// subject is erased.
func (c *Cache) Forget(tenant string, wrapped []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[cacheKey{tenant, string(wrapped)}]; ok {
		c.removeLocked(el)
	}
}

// Purge removes every key of tenant, for example when its key is shredded.
// An empty tenant purges everything.
func (c *Cache) Purge(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if tenant == "" || el.Value.(*entry).k.tenant == tenant {
			c.removeLocked(el)
		}
		el = next
	}
}

// Len returns the number of cached keys.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
