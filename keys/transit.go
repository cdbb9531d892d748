package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/verwerker/verwerker"
)

// TransitOptions configure a Transit keyring. Exactly one of Token,
// AppRole and Kubernetes selects how verwerker logs in to Vault.
type TransitOptions struct {
	// Address is Vault's address (VAULT_ADDR). Empty takes VAULT_ADDR from
	// the environment; TLS settings (VAULT_CACERT, ...) always come from
	// the environment as the Vault client reads them.
	Address string
	// Mount is the path the Transit engine is mounted at; "transit" when
	// empty. The policy in deploy/vault/verwerker.hcl assumes "transit".
	Mount string
	// Token is a Vault token to use as it is (VAULT_TOKEN). It is renewed
	// while it is renewable; when it expires it cannot be replaced, so
	// production uses AppRole or Kubernetes.
	Token string
	// AppRole logs in with a role id and secret id and logs in again
	// whenever the token can no longer be renewed.
	AppRole *AppRoleLogin
	// Kubernetes logs in with the pod's service-account token and logs in
	// again whenever the Vault token can no longer be renewed.
	Kubernetes *KubernetesLogin
	// Timeout bounds each request to Vault; 10 s when zero.
	Timeout time.Duration
	// MaxRetries is how often a request is retried on a connection error
	// or a 5xx answer before it fails as unavailable; 2 when zero, none
	// when negative.
	MaxRetries int
	// RetryAfter is the hint unavailable errors carry; DefaultRetryAfter
	// when zero.
	RetryAfter time.Duration
	// Logger receives login and renewal events (never tokens); slog's
	// default when nil.
	Logger *slog.Logger
	// ProbeEvery is how often Vault's health is probed for Up and the
	// gauge verwerker_vault_up; DefaultProbeEvery when zero, never when
	// negative (then only requests' outcomes move Up).
	ProbeEvery time.Duration
}

// AppRoleLogin is the AppRole auth method: RoleID and exactly one of
// SecretID and SecretIDFile.
type AppRoleLogin struct {
	// RoleID is the role's id (VERWERKER_VAULT_ROLE_ID).
	RoleID string
	// SecretID is the secret id (VERWERKER_VAULT_SECRET_ID).
	SecretID string
	// SecretIDFile is a file holding the secret id, read at every login.
	SecretIDFile string
	// Mount is the auth mount; "approle" when empty.
	Mount string
}

// KubernetesLogin is the Kubernetes auth method.
type KubernetesLogin struct {
	// Role is the Vault role bound to the service account
	// (VERWERKER_VAULT_K8S_ROLE).
	Role string
	// TokenPath is the service-account token file; the standard
	// /var/run/secrets/kubernetes.io/serviceaccount/token when empty.
	TokenPath string
	// Mount is the auth mount; "kubernetes" when empty.
	Mount string
}

// Transit is the production Keyring: tenant keys live in HashiCorp Vault's
// Transit engine and never leave it. It logs in with a token, AppRole or
// Kubernetes, keeps its token renewed (api.LifetimeWatcher) and logs in
// again when the token reaches its maximum lifetime.
//
// Transit never creates a key implicitly: CreateKey writes
// transit/keys/<name> explicitly, and verwerker's policy has no "create"
// capability anywhere on the mount, so Vault's upsert on transit/encrypt
// (which needs "create") is refused, and transit/datakey never upserts. A
// request to a deleted key name fails with ErrNoKey instead of quietly
// making a new key.
//
// Every connection failure, time-out, 5xx (sealed, standby, overloaded) and
// 429 answer is an EUNAVAILABLE error with RetryAfter: verwerker fails
// closed.
type Transit struct {
	client     *vault.Client
	mount      string
	retryAfter time.Duration
	log        *slog.Logger
	login      func(ctx context.Context) (*vault.Secret, error) // nil: static token

	loginMu sync.Mutex // serialises logins
	stop    context.CancelFunc
	done    sync.WaitGroup // the renewal and the probe loops

	// down is set while Vault does not answer (health.go).
	down       atomic.Bool
	probeEvery time.Duration
}

// NewTransit connects to Vault, logs in and starts renewing the token in
// the background until Close. A Vault that does not answer is an
// EUNAVAILABLE error.
func NewTransit(ctx context.Context, opts TransitOptions) (*Transit, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("keys: vault config: %w", cfg.Error)
	}
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	// The timeout goes on the HTTP client, whose timer covers reading the
	// answer's body. The Vault client's own timeout (Config.Timeout) is a
	// context it cancels before the body of a raw request is read, which
	// cuts large batch answers off (hashicorp/vault#31986), so it is off.
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cfg.Timeout = 0
	if cfg.HttpClient != nil {
		cfg.HttpClient.Timeout = timeout
	}
	switch {
	case opts.MaxRetries < 0:
		cfg.MaxRetries = 0
	case opts.MaxRetries > 0:
		cfg.MaxRetries = opts.MaxRetries
	default:
		cfg.MaxRetries = 2
	}
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("keys: vault client: %w", err)
	}
	client.ClearToken() // never a VAULT_TOKEN from the environment by accident
	t := &Transit{client: client, mount: strings.Trim(opts.Mount, "/"), retryAfter: opts.RetryAfter, log: opts.Logger, probeEvery: opts.ProbeEvery}
	if t.mount == "" {
		t.mount = "transit"
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	methods := 0
	for _, set := range []bool{opts.Token != "", opts.AppRole != nil, opts.Kubernetes != nil} {
		if set {
			methods++
		}
	}
	if methods != 1 {
		return nil, fmt.Errorf("keys: vault: configure exactly one of a token, AppRole and Kubernetes auth")
	}
	var secret *vault.Secret
	switch {
	case opts.Token != "":
		client.SetToken(opts.Token)
		secret, err = t.lookupSelf(ctx, opts.Token)
	default:
		method, merr := authMethod(opts)
		if merr != nil {
			return nil, merr
		}
		t.login = func(ctx context.Context) (*vault.Secret, error) {
			m, err := method(ctx)
			if err != nil {
				return nil, err
			}
			return client.Auth().Login(ctx, m)
		}
		secret, err = t.relogin(ctx)
	}
	if err != nil {
		return nil, t.mapErr("keys: vault login", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	t.stop = cancel
	t.done.Add(1)
	go t.renew(loopCtx, secret)
	t.startProbe(loopCtx)
	return t, nil
}

// Close stops the token renewal. It does not revoke the token.
func (t *Transit) Close() {
	t.stop()
	t.done.Wait()
}

// Kind returns "vault-transit".
func (t *Transit) Kind() string { return "vault-transit" }

// lookupSelf describes a static token as a login secret, so the watcher can
// renew it.
func (t *Transit) lookupSelf(ctx context.Context, token string) (*vault.Secret, error) {
	s, err := t.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, err
	}
	renewable, _ := s.TokenIsRenewable()
	ttl, _ := s.TokenTTL()
	return &vault.Secret{Auth: &vault.SecretAuth{ClientToken: token, Renewable: renewable, LeaseDuration: int(ttl.Seconds())}}, nil
}

// relogin logs in with the configured method and installs the new token.
func (t *Transit) relogin(ctx context.Context) (*vault.Secret, error) {
	t.loginMu.Lock()
	defer t.loginMu.Unlock()
	s, err := t.login(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, errors.New("vault login returned no token")
	}
	t.client.SetToken(s.Auth.ClientToken)
	t.log.Info("keys: logged in to vault", "ttl_seconds", s.Auth.LeaseDuration, "renewable", s.Auth.Renewable)
	return s, nil
}

// renew keeps the token alive: a LifetimeWatcher renews it until it can no
// longer be renewed, then a new login starts the next round. A static token
// that expires cannot be replaced; that is logged.
func (t *Transit) renew(ctx context.Context, secret *vault.Secret) {
	defer t.done.Done()
	backoff := time.Second
	for {
		if secret != nil && secret.Auth != nil && secret.Auth.LeaseDuration > 0 {
			w, err := t.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: secret})
			if err != nil {
				t.log.Error("keys: vault token watcher", "error", err)
				return
			}
			go w.Start()
		watch:
			for {
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case err := <-w.DoneCh():
					if err != nil {
						t.log.Warn("keys: vault token renewal ended", "error", err)
					}
					break watch
				case r := <-w.RenewCh():
					if r != nil && r.Secret != nil && r.Secret.Auth != nil {
						t.log.Debug("keys: vault token renewed", "ttl_seconds", r.Secret.Auth.LeaseDuration)
					}
				}
			}
			w.Stop()
		} else if t.login == nil {
			<-ctx.Done() // a token without expiry (a root token in tests): nothing to renew
			return
		}
		if t.login == nil {
			t.log.Error("keys: the static vault token can no longer be renewed; configure AppRole or Kubernetes auth")
			<-ctx.Done()
			return
		}
		for {
			s, err := t.relogin(ctx)
			if err == nil {
				secret, backoff = s, time.Second
				break
			}
			t.log.Warn("keys: vault login failed; retrying", "error", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

// write sends a write to path and decodes the answer's data into out. A 403
// from a login method's token triggers one new login and one retry: the
// token may have expired between renewals.
func (t *Transit) write(ctx context.Context, path string, body map[string]any, out any) error {
	raw, err := t.writeRaw(ctx, path, body)
	if err != nil {
		return err
	}
	return decodeData(raw, out)
}

// writeRaw sends a write and returns the answer's body, also for error
// answers whose body carries batch results (the error is then returned
// too).
func (t *Transit) writeRaw(ctx context.Context, path string, body map[string]any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		token := t.client.Token()
		resp, err := t.client.Logical().WriteRawWithContext(ctx, path, b)
		var raw []byte
		if resp != nil {
			var rerr error
			if raw, rerr = readBody(resp); rerr != nil && err == nil {
				// An answer cut off is Vault not answering, not a bug.
				t.down.Store(true)
				return nil, unavailable("keys: vault read answer", t.retryAfter, rerr)
			}
		}
		if err != nil && attempt == 0 && t.login != nil && statusOf(err) == http.StatusForbidden {
			if t.client.Token() != token { // someone logged in meanwhile
				continue
			}
			if _, lerr := t.relogin(ctx); lerr == nil {
				continue
			}
		}
		t.observe(err)
		return raw, err
	}
}

func readBody(resp *vault.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

func statusOf(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func decodeData(raw []byte, out any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode vault answer: %w", err)
	}
	if out == nil || len(env.Data) == 0 {
		return nil
	}
	return json.Unmarshal(env.Data, out)
}

func (t *Transit) path(op, name string) string { return t.mount + "/" + op + "/" + name }

// mapErr turns a Vault client error into verwerker's error codes.
func (t *Transit) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *verwerker.Error
	if errors.As(err, &ve) {
		return err
	}
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		// Connection refused, reset, DNS, TLS, time-outs: Vault is unreachable.
		t.down.Store(true)
		return unavailable(op, t.retryAfter, err)
	}
	msg := strings.ToLower(strings.Join(re.Errors, "; "))
	switch {
	case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
		t.down.Store(true)
		return unavailable(op, t.retryAfter, err)
	case re.StatusCode == http.StatusForbidden:
		return keyErr(ErrDenied, op, err)
	case strings.Contains(msg, "not found") || strings.Contains(msg, "no existing key") || strings.Contains(msg, "invalid key name"):
		return keyErr(ErrNoKey, op, err)
	}
	return verwerker.Internal(op, err)
}

// CreateKey makes the tenant key name: AES-256-GCM, not exportable, no
// plaintext backup, deletion not allowed. A name that is already taken is
// ErrKeyExists: verwerker never adopts a key it did not make.
func (t *Transit) CreateKey(ctx context.Context, name string) error {
	op := "keys: vault create key"
	if err := checkName(name); err != nil {
		return err
	}
	// Vault answers a write to an existing key like a creation, so look
	// first. Names carry a random part, so two creators never race for one.
	if _, err := t.Status(ctx, name); err == nil {
		return keyErr(ErrKeyExists, op, nil)
	} else if !errors.Is(err, ErrNoKey) {
		return err
	}
	// Not exportable and no plaintext backup are Vault's defaults; the
	// policy denies both parameters outright.
	if err := t.write(ctx, t.path("keys", name), map[string]any{"type": "aes256-gcm96"}, nil); err != nil {
		return t.mapErr(op, err)
	}
	st, err := t.Status(ctx, name)
	if err != nil {
		return err
	}
	if st.Exportable || st.DeletionAllowed || st.LatestVersion != 1 {
		return verwerker.Internal(op, fmt.Errorf("new key %s has unexpected settings %+v", name, st))
	}
	return nil
}

type transitKey struct {
	LatestVersion        int  `json:"latest_version"`
	MinDecryptionVersion int  `json:"min_decryption_version"`
	MinEncryptionVersion int  `json:"min_encryption_version"`
	MinAvailableVersion  int  `json:"min_available_version"`
	Exportable           bool `json:"exportable"`
	DeletionAllowed      bool `json:"deletion_allowed"`
}

func (k transitKey) status(name string) KeyStatus {
	return KeyStatus{Name: name, LatestVersion: k.LatestVersion, MinDecryptionVersion: k.MinDecryptionVersion,
		MinAvailableVersion: k.MinAvailableVersion, Exportable: k.Exportable, DeletionAllowed: k.DeletionAllowed}
}

// Status reads transit/keys/<name>.
func (t *Transit) Status(ctx context.Context, name string) (KeyStatus, error) {
	op := "keys: vault key status"
	if err := checkName(name); err != nil {
		return KeyStatus{}, err
	}
	s, err := t.client.Logical().ReadWithContext(ctx, t.path("keys", name))
	if err == nil && s == nil {
		return KeyStatus{}, keyErr(ErrNoKey, op, nil)
	}
	if err != nil && t.login != nil && statusOf(err) == http.StatusForbidden {
		if _, lerr := t.relogin(ctx); lerr == nil {
			s, err = t.client.Logical().ReadWithContext(ctx, t.path("keys", name))
		}
	}
	if err != nil {
		return KeyStatus{}, t.mapErr(op, err)
	}
	if s == nil {
		return KeyStatus{}, keyErr(ErrNoKey, op, nil)
	}
	b, _ := json.Marshal(s.Data)
	var k transitKey
	if err := json.Unmarshal(b, &k); err != nil {
		return KeyStatus{}, verwerker.Internal(op, err)
	}
	return k.status(name), nil
}

// DataKey asks transit/datakey/plaintext/<name> for a 256-bit data key.
func (t *Transit) DataKey(ctx context.Context, name string) (DataKey, error) {
	op := "keys: vault datakey"
	if err := checkName(name); err != nil {
		return DataKey{}, err
	}
	var out struct {
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
		KeyVersion int    `json:"key_version"`
	}
	if err := t.write(ctx, t.path("datakey/plaintext", name), map[string]any{"bits": 256}, &out); err != nil {
		return DataKey{}, t.mapErr(op, err)
	}
	pt, err := base64.StdEncoding.DecodeString(out.Plaintext)
	if err != nil || len(pt) != 32 {
		clear(pt)
		return DataKey{}, verwerker.Internal(op, errors.New("vault returned a malformed data key"))
	}
	return DataKey{Plaintext: pt, Wrapped: []byte(out.Ciphertext), Version: out.KeyVersion}, nil
}

type batchItem struct {
	Plaintext  string `json:"plaintext"`
	Ciphertext string `json:"ciphertext"`
	Error      string `json:"error"`
}

// batch sends wrapped keys to a batch endpoint (decrypt or rewrap) and
// returns the per-item results.
func (t *Transit) batch(ctx context.Context, op, endpoint, name string, wrapped [][]byte) ([]batchItem, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(wrapped) == 0 {
		return nil, nil
	}
	in := make([]map[string]string, len(wrapped))
	for i, w := range wrapped {
		in[i] = map[string]string{"ciphertext": string(w)}
	}
	raw, err := t.writeRaw(ctx, t.path(endpoint, name), map[string]any{
		"batch_input":                   in,
		"partial_failure_response_code": http.StatusOK,
	})
	var out struct {
		BatchResults []batchItem `json:"batch_results"`
	}
	derr := decodeData(raw, &out)
	if err != nil {
		// A batch whose items all fail comes back as 400 with the results.
		if statusOf(err) != http.StatusBadRequest || derr != nil || len(out.BatchResults) != len(wrapped) {
			mapped := t.mapErr(op, err)
			if verwerker.ErrorCode(mapped) == verwerker.ENOTFOUND {
				mapped = keyErr(ErrUnreadable, op, mapped) // no key: nothing unwraps
			}
			return nil, mapped
		}
	} else if derr != nil || len(out.BatchResults) != len(wrapped) {
		return nil, verwerker.Internal(op, fmt.Errorf("vault returned %d results for %d items", len(out.BatchResults), len(wrapped)))
	}
	return out.BatchResults, nil
}

// batchEach runs a batch request and turns each item's answer into a value
// with fn; items Vault refused are ErrUnreadable.
func (t *Transit) batchEach(ctx context.Context, op, endpoint, name string, wrapped [][]byte, fn func(batchItem) ([]byte, error)) ([][]byte, error) {
	res, err := t.batch(ctx, op, endpoint, name, wrapped)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(res))
	errs := make([]error, len(res))
	for i, r := range res {
		if r.Error != "" {
			errs[i] = keyErr(ErrUnreadable, op, errors.New(r.Error))
			continue
		}
		if out[i], err = fn(r); err != nil {
			errs[i] = keyErr(ErrUnreadable, op, err)
		}
	}
	return out, batchResult(errs)
}

// Unwrap decrypts wrapped data keys with transit/decrypt/<name>, all in
// one batch request.
func (t *Transit) Unwrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	return t.batchEach(ctx, "keys: vault unwrap", "decrypt", name, wrapped, func(r batchItem) ([]byte, error) {
		pt, err := base64.StdEncoding.DecodeString(r.Plaintext)
		if err != nil || len(pt) != 32 {
			clear(pt)
			return nil, errors.New("not a 32-byte data key")
		}
		return pt, nil
	})
}

// Rewrap re-encrypts wrapped data keys under the latest key version with
// transit/rewrap/<name>, in one batch request; Vault never reveals them.
func (t *Transit) Rewrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	return t.batchEach(ctx, "keys: vault rewrap", "rewrap", name, wrapped, func(r batchItem) ([]byte, error) {
		return []byte(r.Ciphertext), nil
	})
}

// Rotate writes transit/keys/<name>/rotate.
func (t *Transit) Rotate(ctx context.Context, name string) (KeyStatus, error) {
	op := "keys: vault rotate"
	if err := checkName(name); err != nil {
		return KeyStatus{}, err
	}
	var k transitKey
	if err := t.write(ctx, t.path("keys", name)+"/rotate", map[string]any{}, &k); err != nil {
		return KeyStatus{}, t.mapErr(op, err)
	}
	if k.LatestVersion == 0 { // older Vaults answer 204
		return t.Status(ctx, name)
	}
	return k.status(name), nil
}

// Retire sets min_decryption_version and min_encryption_version to
// minVersion, then trims (deletes) every older version.
func (t *Transit) Retire(ctx context.Context, name string, minVersion int) (KeyStatus, error) {
	op := "keys: vault retire"
	st, err := t.Status(ctx, name)
	if err != nil {
		return KeyStatus{}, err
	}
	if minVersion < 1 || minVersion > st.LatestVersion {
		return KeyStatus{}, verwerker.Internal(op, fmt.Errorf("version %d outside 1..%d", minVersion, st.LatestVersion))
	}
	if minVersion <= st.MinAvailableVersion {
		return st, nil
	}
	if minVersion > st.MinDecryptionVersion {
		if err := t.write(ctx, t.path("keys", name)+"/config", map[string]any{
			"min_decryption_version": minVersion, "min_encryption_version": minVersion,
		}, nil); err != nil {
			return KeyStatus{}, t.mapErr(op, err)
		}
	}
	if err := t.write(ctx, t.path("keys", name)+"/trim", map[string]any{"min_available_version": minVersion}, nil); err != nil {
		return KeyStatus{}, t.mapErr(op, err)
	}
	return t.Status(ctx, name)
}

// Destroy sets deletion_allowed on key name and deletes it. A key that is
// already gone is not an error.
func (t *Transit) Destroy(ctx context.Context, name string) error {
	op := "keys: vault destroy"
	if err := checkName(name); err != nil {
		return err
	}
	if err := t.write(ctx, t.path("keys", name)+"/config", map[string]any{"deletion_allowed": true}, nil); err != nil {
		err = t.mapErr(op, err)
		if errors.Is(err, ErrNoKey) {
			return nil
		}
		return err
	}
	_, err := t.client.Logical().DeleteWithContext(ctx, t.path("keys", name))
	if err != nil {
		err = t.mapErr(op, err)
		if errors.Is(err, ErrNoKey) {
			return nil
		}
		return err
	}
	if _, err := t.Status(ctx, name); !errors.Is(err, ErrNoKey) {
		if err == nil {
			err = verwerker.Internal(op, fmt.Errorf("key %s still exists after delete", name))
		}
		return err
	}
	return nil
}

// checkName refuses names Vault would not accept as a path segment.
func checkName(name string) error {
	if name == "" || len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
		return verwerker.Internal("keys", fmt.Errorf("invalid key name %q", name))
	}
	return nil
}
