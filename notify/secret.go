package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
)

// sealedPrefix marks a sealed signing secret in webhook_endpoints.secrets.
const sealedPrefix = "sealed:"

// secretAAD binds a sealed signing secret to its tenant and use.
func secretAAD(tenantID string) keys.AAD {
	return keys.AAD{Tenant: tenantID, Subject: "webhook-endpoint", Kind: "webhook.secret"}
}

// sealSecret seals a signing secret with the endpoint's data key.
func sealSecret(k *keys.Key, tenantID, secret string) (string, error) {
	sealed, err := k.Seal(secretAAD(tenantID), []byte(secret))
	if err != nil {
		return "", err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// openSecrets returns the signing secrets of an endpoint in the clear:
// sealed ones opened with the data key wrapped, legacy clear ones as they
// are.
func (o *Outbox) openSecrets(ctx context.Context, tenantID, wrapped string, stored []string) ([]string, error) {
	var k *keys.Key
	out := make([]string, 0, len(stored))
	for _, s := range stored {
		b64, sealed := strings.CutPrefix(s, sealedPrefix)
		if !sealed {
			out = append(out, s)
			continue
		}
		if k == nil {
			if o.keys == nil || wrapped == "" {
				return nil, errors.New("notify: sealed webhook secret without a key")
			}
			var err error
			if k, err = o.keys.Key(ctx, tenantID, []byte(wrapped)); err != nil {
				return nil, err
			}
			defer k.Release()
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, errors.New("notify: malformed sealed webhook secret")
		}
		plain, err := k.Open(secretAAD(tenantID), raw)
		if err != nil {
			return nil, err
		}
		out = append(out, string(plain))
	}
	return out, nil
}

// endpointKey returns the data key new secrets of the tenant's endpoint are
// sealed with: the endpoint's own when it has one (wrapped), otherwise a
// new one, whose wrapped form the caller stores. The tenant's key is made
// on first use.
func (o *Outbox) endpointKey(ctx context.Context, tenantID, wrapped string) (*keys.Key, error) {
	if o.keys == nil {
		return nil, verwerker.Internal("notify: webhook secrets", errors.New("no key manager (Config.Keys)"))
	}
	if wrapped != "" {
		return o.keys.Key(ctx, tenantID, []byte(wrapped))
	}
	if _, err := o.keys.CreateTenantKey(ctx, tenantID); err != nil {
		return nil, err
	}
	return o.keys.NewDataKey(ctx, tenantID)
}
