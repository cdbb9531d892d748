package verwerker_test

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	seen := map[string]bool{}
	for i := range 1000 {
		id := verwerker.NewID(verwerker.PrefixTenant, base.Add(time.Duration(i)*time.Millisecond))
		require.True(t, verwerker.ValidID(verwerker.PrefixTenant, id), id)
		require.False(t, seen[id])
		seen[id] = true
		ids = append(ids, id)
	}
	require.True(t, sort.StringsAreSorted(ids), "ids must sort by creation time")

	for _, bad := range []string{"", "tnt_", "cus_01JD0000000000000000000000", "tnt_01JD00000000000000000000I0", "tnt_91JD0000000000000000000000", "tnt-01JD0000000000000000000000"} {
		require.False(t, verwerker.ValidID(verwerker.PrefixTenant, bad), bad)
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()
	cause := verwerker.Internal("store: insert tenant", errTest("duplicate key value violates unique constraint"))
	require.Equal(t, verwerker.EINTERNAL, verwerker.ErrorCode(cause))
	require.Equal(t, "internal error", verwerker.ErrorMessage(cause), "internal text never reaches callers")
	require.Contains(t, cause.Error(), "duplicate key", "but operators see it")

	inv := verwerker.Invalid("bad input", verwerker.FieldError{Field: "name", Message: "required"})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(inv))
	require.Equal(t, []verwerker.FieldError{{Field: "name", Message: "required"}}, verwerker.ErrorFields(inv))
	require.Equal(t, verwerker.EINTERNAL, verwerker.ErrorCode(errTest("plain")))
	require.Equal(t, "", verwerker.ErrorCode(nil))
}

type errTest string

func (e errTest) Error() string { return string(e) }
