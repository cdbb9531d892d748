package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/store/storetest"
)

// BenchmarkSeal compares the two ways of encrypting a 512-byte chat message
// with a key Vault protects: sealing locally with the subject's data key
// from the cache (what verwerker does: cache lookup, AES-256-GCM), against
// one transit/encrypt request to the real Vault dev server per message.
// deploy/bench.sh prints the ratio.
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	srv := vaulttest.Shared(b)
	db := storetest.New(b)
	m := keys.NewManager(db, srv.Transit(b, keys.TransitOptions{}), keys.ManagerOptions{})
	b.Cleanup(m.Close)
	tenant := newTenant(b, db)
	tk, err := m.CreateTenantKey(ctx, tenant)
	if err != nil {
		b.Fatal(err)
	}
	k, err := m.NewDataKey(ctx, tenant)
	if err != nil {
		b.Fatal(err)
	}
	wrapped := k.Wrapped()
	k.Release()
	msg := bytes.Repeat([]byte("Hallo, ik heb een vraag. "), 21)[:512]
	aad := keys.AAD{Tenant: tenant, Subject: "sub_1", Kind: "chat_message"}

	b.Run("cached-data-key", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			k, err := m.Key(ctx, tenant, wrapped)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Seal(aad, msg); err != nil {
				b.Fatal(err)
			}
			k.Release()
		}
	})

	b.Run("transit-encrypt", func(b *testing.B) {
		c := srv.Client(b, srv.AppRole(b))
		in := map[string]any{"plaintext": base64.StdEncoding.EncodeToString(msg)}
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Logical().WriteWithContext(ctx, "transit/encrypt/"+tk.Name, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
