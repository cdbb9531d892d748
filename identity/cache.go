package identity

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// maxCachedKeys bounds the credential cache; beyond it, it starts over.
const maxCachedKeys = 100_000

// keyCache keeps the rows of keys that were presented, so a request can be
// authenticated without a database round trip. It is trusted only while
// the replica's watcher is fresh (store.Watcher): every change that could
// make a row wrong (revocation, a person disabled, any grant) raises the
// policy version and notifies policy.NotifyChannel, which the watcher
// delivers before it acknowledges the change's barrier. A row is used only
// if it was read at the newest policy version heard of, so a read that
// raced with a change can never be served after the change is
// acknowledged.
type keyCache struct {
	watcher *store.Watcher
	heard   atomic.Int64 // newest policy version heard of
	size    atomic.Int64
	rows    atomic.Pointer[sync.Map] // key prefix -> keyRow
}

func newKeyCache() *keyCache {
	c := &keyCache{}
	c.rows.Store(&sync.Map{})
	return c
}

// get returns the cached row of prefix, if it may be trusted.
func (c *keyCache) get(prefix string) (keyRow, bool) {
	if !c.watcher.Fresh() {
		return keyRow{}, false
	}
	v, ok := c.rows.Load().Load(prefix)
	if !ok {
		return keyRow{}, false
	}
	r := v.(keyRow)
	if r.policy < c.heard.Load() {
		return keyRow{}, false
	}
	return r, true
}

// put keeps a row just read, unless a newer policy version was heard of
// meanwhile. Unknown keys are not kept (anyone can present one).
func (c *keyCache) put(prefix string, r keyRow) {
	if c.watcher == nil || !r.found || r.policy < c.heard.Load() {
		return
	}
	if c.size.Add(1) > maxCachedKeys {
		c.reset()
	}
	c.rows.Load().Store(prefix, r)
}

func (c *keyCache) reset() {
	c.rows.Store(&sync.Map{})
	c.size.Store(0)
}

// heardOf raises the version rows must have been read at: older rows are
// no longer used (and are replaced when their keys are presented again).
func (c *keyCache) heardOf(v int64) {
	for {
		cur := c.heard.Load()
		if v <= cur || c.heard.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Watch lets the keys answer from memory while w is fresh (w must not be
// running yet). Without it every request reads its key from the database.
func (k *Keys) Watch(w *store.Watcher) {
	k.cache.watcher = w
	w.Handle(policy.NotifyChannel, func(ctx context.Context) error {
		// Announcements may have been missed while disconnected.
		v, err := policy.Version(ctx, k.db.Pool)
		if err != nil {
			return err
		}
		k.cache.heardOf(v)
		k.cache.reset()
		return nil
	}, func(_ context.Context, payload string) error {
		v, err := strconv.ParseInt(payload, 10, 64)
		if err != nil {
			// Not a version: the watcher reconnects and starts over.
			return fmt.Errorf("identity: policy version %q: %w", payload, err)
		}
		k.cache.heardOf(v)
		return nil
	})
}
