package keys

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
)

func filled(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func isZero(b []byte) bool { return bytes.Equal(b, make([]byte, len(b))) }

func TestCacheEvictionZeroes(t *testing.T) {
	t.Parallel()
	clock := verwerker.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	c := NewCache(2, time.Minute, clock)

	a := filled(0xaa)
	c.put("t", []byte("w-a"), a, 1).Release()
	b := filled(0xbb)
	c.put("t", []byte("w-b"), b, 1).Release()
	require.Equal(t, 2, c.Len())

	// Using a makes b the least recently used; a third key evicts b.
	k := c.get("t", []byte("w-a"))
	require.NotNil(t, k)
	k.Release()
	c.put("t", []byte("w-c"), filled(0xcc), 1).Release()
	require.Equal(t, 2, c.Len())
	require.True(t, isZero(b), "an evicted key is zeroed")
	require.False(t, isZero(a))
	require.Nil(t, c.get("t", []byte("w-b")))

	// A key someone holds is zeroed only when they release it.
	held := c.get("t", []byte("w-a"))
	require.NotNil(t, held)
	c.put("t", []byte("w-d"), filled(0xdd), 1).Release()
	c.put("t", []byte("w-e"), filled(0xee), 1).Release()
	require.Nil(t, c.get("t", []byte("w-a")), "evicted")
	require.False(t, isZero(a), "still held")
	sealed, err := held.Seal(AAD{Tenant: "t"}, []byte("x"))
	require.NoError(t, err, "a held key stays usable after eviction")
	pt, err := Open(filled(0xaa), AAD{Tenant: "t"}, sealed)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), pt)
	held.Release()
	require.True(t, isZero(a), "zeroed at the last release")
	held.Release() // a second release does nothing
	_, err = held.Seal(AAD{}, nil)
	require.Error(t, err, "a released key cannot be used")
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	clock := verwerker.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	c := NewCache(10, time.Minute, clock)
	a, b := filled(1), filled(2)
	c.put("t", []byte("a"), a, 1).Release()
	clock.Advance(30 * time.Second)
	c.put("t", []byte("b"), b, 1).Release()

	clock.Advance(31 * time.Second)
	// Used often or not, a key leaves TTL after it was unwrapped.
	require.Nil(t, c.get("t", []byte("a")))
	require.True(t, isZero(a))
	k := c.get("t", []byte("b"))
	require.NotNil(t, k)
	k.Release()

	clock.Advance(30 * time.Second)
	c.Sweep()
	require.Zero(t, c.Len())
	require.True(t, isZero(b), "sweeping zeroes expired keys nobody asked for")
}

func TestCacheTimerSweeps(t *testing.T) {
	t.Parallel()
	c := NewCache(10, 50*time.Millisecond, nil)
	a := filled(7)
	c.put("t", []byte("a"), a, 1).Release()
	require.Eventually(t, func() bool { return c.Len() == 0 }, 2*time.Second, 10*time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.True(t, isZero(a))
}

func TestCachePurgeForgetAndDuplicates(t *testing.T) {
	t.Parallel()
	c := NewCache(100, time.Minute, nil)
	var tenantA [][]byte
	for i := range 5 {
		k := filled(byte(i + 1))
		tenantA = append(tenantA, k)
		c.put("A", fmt.Appendf(nil, "w%d", i), k, 1).Release()
	}
	b := filled(0xbb)
	c.put("B", []byte("w0"), b, 1).Release()

	// The same wrapped key under another tenant is another entry.
	require.Equal(t, 6, c.Len())

	c.Forget("A", []byte("w0"))
	require.True(t, isZero(tenantA[0]))
	require.Nil(t, c.get("A", []byte("w0")))

	c.Purge("A")
	require.Equal(t, 1, c.Len())
	for _, k := range tenantA {
		require.True(t, isZero(k))
	}
	require.False(t, isZero(b))

	// Putting a key that is already cached keeps the cached one and zeroes the new copy.
	dup := filled(0xbb)
	k := c.put("B", []byte("w0"), dup, 1)
	require.True(t, isZero(dup))
	require.Equal(t, filled(0xbb), k.e.key)
	k.Release()

	c.Purge("")
	require.Zero(t, c.Len())
	require.True(t, isZero(b))
}
