package decision

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
)

// TestEntryLayout keeps what the hot path reads in two cache lines: the
// inline id, the key reference, the counts and the expiry in the first,
// the decider's hot fields in the second.
func TestEntryLayout(t *testing.T) {
	var e tenantEntry
	require.EqualValues(t, 192, unsafe.Sizeof(e))
	require.EqualValues(t, 64, unsafe.Offsetof(e.td))
	require.LessOrEqual(t, unsafe.Offsetof(e.counts)+8, uintptr(64))
	require.LessOrEqual(t, unsafe.Offsetof(e.until)+8, uintptr(64), "the expiry is read on the hot path")
	require.GreaterOrEqual(t, unsafe.Sizeof(policy.TenantDecider{}), uintptr(64))
}

// TestTenantIndex adds, finds, replaces and lists entries across table
// growth, with ids inline and longer ones.
func TestTenantIndex(t *testing.T) {
	x := newTenantIndex()
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("tnt_%026d", i)
		if i%100 == 0 {
			ids[i] = fmt.Sprintf("a-longer-tenant-id-than-thirty-bytes-%d", i)
		}
		require.Nil(t, x.load(ids[i]))
		got := x.update(ids[i], func(cur *tenantEntry) *tenantEntry {
			require.Nil(t, cur)
			return newEntry(ids[i])
		})
		require.Equal(t, ids[i], got.id())
	}
	for i, id := range ids {
		e := x.load(id)
		require.NotNil(t, e, id)
		require.Equal(t, id, e.id())
		require.False(t, e.stale)
		if i%2 == 0 {
			x.update(id, func(cur *tenantEntry) *tenantEntry {
				c := *cur
				c.stale = true
				return &c
			})
		}
	}
	require.Nil(t, x.load("tnt_nobody"))
	require.Nil(t, x.load(""))
	n := 0
	x.each(func(e *tenantEntry) {
		n++
		var i int
		if _, err := fmt.Sscanf(e.id(), "tnt_%d", &i); err == nil {
			require.Equal(t, i%2 == 0, e.stale, e.id())
		}
	})
	require.Equal(t, len(ids), n)
}
