package identity_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// TestConcurrentKeyChecks: many requests at once (their lookups share
// queries) each get the answer of their own key, a revoked key is refused
// and a token with a right prefix but wrong secret is refused.
func TestConcurrentKeyChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type issued struct {
		key   identity.Key
		token string
	}
	var keys []issued
	for i := 0; i < 20; i++ {
		k, tok, err := e.keys.Issue(ctx, identity.NewKey{Label: "k", Role: policy.RoleChatService, Domain: e.tenant})
		require.NoError(t, err)
		keys = append(keys, issued{k, tok})
	}
	revoked := keys[3]
	_, err := e.keys.Revoke(ctx, identity.KeyOwner{Domain: e.tenant}, revoked.key.ID)
	require.NoError(t, err)
	forged := keys[5].token[:len(keys[5].token)-1] + "A"
	if forged == keys[5].token {
		forged = keys[5].token[:len(keys[5].token)-1] + "B"
	}

	var wg sync.WaitGroup
	for round := 0; round < 20; round++ {
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := e.keys.Check(ctx, k.token)
				if i == 3 {
					require.Equal(t, verwerker.EUNAUTHORIZED, verwerker.ErrorCode(err))
					return
				}
				require.NoError(t, err)
				require.Equal(t, k.key.ID, p.Credential)
				require.Equal(t, e.tenant, p.Domain)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.keys.Check(ctx, forged)
			require.Equal(t, verwerker.EUNAUTHORIZED, verwerker.ErrorCode(err))
		}()
	}
	wg.Wait()
}
