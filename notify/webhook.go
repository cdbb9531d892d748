package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store"
)

// secretPrefix marks a Standard Webhooks signing secret; the rest is the
// base64 of the key.
const secretPrefix = "whsec_"

// NewSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret, separated by
// spaces, as the Standard Webhooks scheme has it.
func Sign(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
		if err != nil || len(key) == 0 {
			return "", errors.New("notify: malformed webhook secret")
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// Endpoint is where a tenant's webhooks go.
type Endpoint struct {
	// TenantID is the tenant.
	TenantID string `json:"tenant_id"`
	// URL receives the POSTs.
	URL string `json:"url"`
	// Rotating is true while two secrets sign every message.
	Rotating bool `json:"rotating"`
	// CreatedAt and UpdatedAt say when it was registered and last changed.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// validURL checks an endpoint URL: http(s), no credentials, no fragment,
// and, unless private networks are allowed, https on a host that is not an
// internal address or name. The dialer checks the resolved address again
// at every delivery.
func (o *Outbox) validURL(raw string) error {
	bad := func(msg string) error {
		return verwerker.Invalid("invalid webhook endpoint", verwerker.FieldError{Field: "url", Message: msg})
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2000 {
		return bad("must be an http or https URL without credentials or fragment, at most 2000 characters")
	}
	if o.cfg.AllowPrivateNetworks {
		return nil
	}
	if u.Scheme != "https" {
		return bad("must use https")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if a, err := netip.ParseAddr(host); err == nil && !publicAddress(a) {
		return bad("must not point to a loopback, private, link-local or reserved address")
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".internal") ||
		strings.HasSuffix(host, ".local") || !strings.Contains(host, ".") {
		return bad("must name a public host")
	}
	return nil
}

// Endpoint returns the tenant's webhook endpoint (never its secrets), or
// ENOTFOUND.
func (o *Outbox) Endpoint(ctx context.Context, tenantID string) (Endpoint, error) {
	var e Endpoint
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `SELECT tenant_id, url, cardinality(secrets), created_at, updated_at FROM webhook_endpoints WHERE tenant_id = $1`,
			tenantID).Scan(&e.TenantID, &e.URL, &n, &e.CreatedAt, &e.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "no webhook endpoint")
		}
		e.Rotating = n > 1
		return err
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("notify: endpoint: %w", err)
	}
	return e, nil
}

// HasEndpoint reports, inside the caller's transaction tx, whether the
// tenant has a webhook endpoint: whether a webhook can carry a notice to
// it.
func HasEndpoint(ctx context.Context, tx pgx.Tx, tenantID string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1)`, tenantID).Scan(&ok)
	return ok, err
}

// WithEndpoints returns, inside the caller's transaction tx, which of
// tenantIDs have a webhook endpoint: HasEndpoint for many tenants in one
// query.
func WithEndpoints(ctx context.Context, tx pgx.Tx, tenantIDs []string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT tenant_id FROM webhook_endpoints WHERE tenant_id = ANY ($1)`, tenantIDs)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

// RemoveEndpoint deletes the tenant's webhook endpoint and its secrets, if
// it has one. Pending webhooks then fail with no_endpoint until a new one
// is set; e-mail notices are unaffected.
func (o *Outbox) RemoveEndpoint(ctx context.Context, tenantID string) error {
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return o.audit.Record(ctx, tx, tenantID, "webhook.endpoint.remove", tenantID, "")
	})
	if err != nil {
		return fmt.Errorf("notify: remove endpoint: %w", err)
	}
	return nil
}

// SetEndpoint registers or changes the tenant's webhook URL. For a new
// endpoint it returns the signing secret, which is shown only this once; a
// changed URL keeps its secrets and returns "".
func (o *Outbox) SetEndpoint(ctx context.Context, tenantID, rawURL string) (Endpoint, string, error) {
	if err := o.validURL(rawURL); err != nil {
		return Endpoint{}, "", err
	}
	now := o.clock.Now().UTC()
	var e Endpoint
	var n int
	// A changed URL keeps its secrets.
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET url = $2, updated_at = $3 WHERE tenant_id = $1
			RETURNING tenant_id, url, cardinality(secrets), created_at, updated_at`, tenantID, rawURL, now).
			Scan(&e.TenantID, &e.URL, &n, &e.CreatedAt, &e.UpdatedAt)
		if err != nil {
			return err
		}
		e.Rotating = n > 1
		return o.audit.Record(ctx, tx, tenantID, "webhook.endpoint.set", tenantID, "")
	})
	if err == nil {
		return e, "", nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, "", fmt.Errorf("notify: set endpoint: %w", err)
	}
	// A new endpoint: a new secret, sealed before the transaction (the key
	// manager may call Vault and use its own connection).
	secret := NewSecret()
	k, err := o.endpointKey(ctx, tenantID, "")
	if err != nil {
		return Endpoint{}, "", err
	}
	defer k.Release()
	sealed, err := sealSecret(k, tenantID, secret)
	if err != nil {
		return Endpoint{}, "", verwerker.Internal("notify: seal secret", err)
	}
	err = o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO webhook_endpoints (tenant_id, url, secrets, wrapped_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
			RETURNING tenant_id, url, cardinality(secrets), created_at, updated_at`,
			tenantID, rawURL, []string{sealed}, string(k.Wrapped()), now).Scan(&e.TenantID, &e.URL, &n, &e.CreatedAt, &e.UpdatedAt)
		if store.IsUniqueViolation(err, "webhook_endpoints_pkey") {
			return verwerker.Errorf(verwerker.ECONFLICT, "the endpoint was set at the same time; try again")
		}
		if err != nil {
			return err
		}
		return o.audit.Record(ctx, tx, tenantID, "webhook.endpoint.set", tenantID, "")
	})
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("notify: set endpoint: %w", err)
	}
	return e, secret, nil
}

// RotateSecret starts a rotation: it adds a new secret, returned only this
// once, and from now on every message is signed with the new and the
// current secret until FinishRotation. Rotating again during a rotation
// replaces the pending new secret. Secrets from before sealing was
// introduced are sealed by the rotation.
func (o *Outbox) RotateSecret(ctx context.Context, tenantID string) (string, error) {
	var wrapped string
	var stored []string
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce(wrapped_key, ''), secrets FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).Scan(&wrapped, &stored)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", verwerker.Errorf(verwerker.ECONFLICT, "no webhook endpoint is set; set one first")
	}
	if err != nil {
		return "", fmt.Errorf("notify: rotate secret: %w", err)
	}
	k, err := o.endpointKey(ctx, tenantID, wrapped)
	if err != nil {
		return "", err
	}
	defer k.Release()
	current := stored[len(stored)-1]
	if !strings.HasPrefix(current, sealedPrefix) { // a legacy clear secret
		if current, err = sealSecret(k, tenantID, current); err != nil {
			return "", verwerker.Internal("notify: seal secret", err)
		}
	}
	secret := NewSecret()
	sealed, err := sealSecret(k, tenantID, secret)
	if err != nil {
		return "", verwerker.Internal("notify: seal secret", err)
	}
	err = o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET secrets = ARRAY[$2::text, $3::text], wrapped_key = $4, updated_at = $5
			WHERE tenant_id = $1 AND coalesce(wrapped_key, '') = $6 AND secrets[cardinality(secrets)] = $7`,
			tenantID, sealed, current, string(k.Wrapped()), o.clock.Now().UTC(), wrapped, stored[len(stored)-1])
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return verwerker.Errorf(verwerker.ECONFLICT, "the endpoint changed at the same time; try again")
		}
		return o.audit.Record(ctx, tx, tenantID, "webhook.secret.rotate", tenantID, "")
	})
	if err != nil {
		return "", fmt.Errorf("notify: rotate secret: %w", err)
	}
	return secret, nil
}

// FinishRotation retires the old secret: messages are signed with the new
// one only. Without a rotation in progress it changes nothing.
func (o *Outbox) FinishRotation(ctx context.Context, tenantID string) error {
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET secrets = secrets[1:1], updated_at = $2 WHERE tenant_id = $1 AND cardinality(secrets) > 1`,
			tenantID, o.clock.Now().UTC())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return o.audit.Record(ctx, tx, tenantID, "webhook.secret.finish_rotation", tenantID, "")
	})
	if err != nil {
		return fmt.Errorf("notify: finish rotation: %w", err)
	}
	return nil
}

// sendWebhook POSTs one attempt of message id to the tenant's endpoint.
func (o *Outbox) sendWebhook(ctx context.Context, tenantID, id string, body []byte) result {
	var rawURL, wrapped string
	var stored []string
	err := o.db.Pool.QueryRow(ctx, `SELECT url, secrets, coalesce(wrapped_key, '') FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).
		Scan(&rawURL, &stored, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return result{code: "no_endpoint"}
	}
	if err != nil {
		return result{code: "database", err: err}
	}
	secrets, err := o.openSecrets(ctx, tenantID, wrapped, stored)
	if err != nil {
		if verwerker.ErrorCode(err) == verwerker.EUNAVAILABLE {
			return result{code: "keys_unavailable", err: err}
		}
		return result{code: "secret_unreadable", err: err}
	}
	ts := o.clock.Now().Unix()
	sig, err := Sign(secrets, id, ts, body)
	if err != nil {
		return result{code: "bad_secret"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return result{code: "bad_url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "verwerker-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := o.http.Do(req)
	if err != nil {
		// The error text may quote the URL: keep only its kind.
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return result{code: "timeout"}
		}
		return result{code: "connect_failed"}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r := result{httpStatus: resp.StatusCode}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.code = "http_" + strconv.Itoa(resp.StatusCode)
	}
	return r
}
