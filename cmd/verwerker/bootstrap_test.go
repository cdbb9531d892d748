package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/store/storetest"
)

func TestBootstrapCreatesFirstAdmin(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	ctx := context.Background()
	var out strings.Builder
	require.NoError(t, run(ctx, []string{"bootstrap", "-email", "admin@processor.example", "-name", "First Admin", "-database-url", url}, &out, io.Discard))
	require.Contains(t, out.String(), "platform admin usr_")
	require.Contains(t, out.String(), "vwu_")

	// The address is taken now.
	err := run(ctx, []string{"bootstrap", "-email=admin@processor.example", "-name=Again", "-database-url", url}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "email is already used")
	require.ErrorContains(t, run(ctx, []string{"bootstrap", "-email", "x@y.example"}, io.Discard, io.Discard), "usage")
}
