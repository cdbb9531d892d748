package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/tenant"
)

func TestAuditCheckpointCommand(t *testing.T) {
	url := storetest.NewURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	log := audit.NewLog(db, verwerker.SystemClock{})
	for _, c := range []string{"tnt_A", "tnt_B"} {
		_, err := log.Append(ctx, audit.Event{Chain: c, Actor: "system", Action: "tenant.create", Resource: c, Outcome: audit.Success})
		require.NoError(t, err)
	}
	log.Close()
	keyFile := filepath.Join(t.TempDir(), "audit-signing.key")
	flags := []string{"-database-url", url, "-signing-key-file", keyFile}

	// The command never creates a key: the server would not trust it.
	var out, errOut strings.Builder
	err = run(ctx, append([]string{"audit", "checkpoint"}, flags...), &out, io.Discard)
	require.ErrorContains(t, err, "VERWERKER_SIGNING_KEY_FILE")
	_, err = os.Stat(keyFile)
	require.True(t, os.IsNotExist(err))

	signer, _, err := keys.LoadOrCreateLocalSigner(keyFile)
	require.NoError(t, err)
	require.NoError(t, run(ctx, append([]string{"audit", "checkpoint"}, flags...), &out, io.Discard))
	require.Equal(t, "signed 2 checkpoints with key "+signer.KeyID()+"\n", out.String())
	out.Reset()
	require.NoError(t, run(ctx, append([]string{"audit", "checkpoint"}, flags...), &out, io.Discard))
	require.Equal(t, "signed 0 checkpoints with key "+signer.KeyID()+"\n", out.String(), "no head moved")

	out.Reset()
	require.NoError(t, run(ctx, append([]string{"audit", "verify", "-tenant", "tnt_A"}, flags...), &out, io.Discard))
	require.Contains(t, out.String(), `"ok":true`)
	require.Contains(t, out.String(), `"checkpoints":1`)
	require.Contains(t, out.String(), `"last_checkpoint_seq":1`)

	// Without the key, checkpoints cannot be checked, and verify says so.
	out.Reset()
	missing := []string{"-database-url", url, "-signing-key-file", filepath.Join(t.TempDir(), "nope")}
	err = run(ctx, append([]string{"audit", "verify"}, missing...), &out, &errOut)
	require.ErrorContains(t, err, "2 of 2 audit chains do not verify")
	require.Contains(t, errOut.String(), "checkpoint signatures cannot be checked")
	require.Contains(t, out.String(), "not a trusted signing key")

	// A consistent rewrite: the event and its hash and the head, as a
	// superuser would do it. The chain alone verifies; the checkpoint not.
	reader := audit.NewLog(db, verwerker.SystemClock{})
	defer reader.Close()
	events, err := reader.Events(ctx, "tnt_A", 0, 10)
	require.NoError(t, err)
	e := events[0]
	e.Actor = "key_SOMEONE_ELSE"
	e.Hash = audit.ComputeHash(e.PrevHash, e.Canonical())
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SET session_replication_role = replica`, nil},
		{`UPDATE audit_events SET actor = $1, hash = $2 WHERE chain = 'tnt_A'`, []any{e.Actor, e.Hash}},
		{`UPDATE audit_heads SET hash = $1 WHERE chain = 'tnt_A'`, []any{e.Hash}},
		{`RESET session_replication_role`, nil},
	} {
		_, err := conn.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	conn.Release()
	out.Reset()
	err = run(ctx, append([]string{"audit", "verify"}, flags...), &out, io.Discard)
	require.ErrorContains(t, err, "1 of 2 audit chains do not verify")
	require.Contains(t, out.String(), `"first_bad":1`)
	require.Contains(t, out.String(), `"bad_checkpoint":1`)

	// And the checkpointer refuses to sign over it.
	out.Reset()
	err = run(ctx, append([]string{"audit", "checkpoint"}, flags...), &out, io.Discard)
	require.ErrorContains(t, err, "tnt_A")
	require.Equal(t, "signed 0 checkpoints with key "+signer.KeyID()+"\n", out.String())
}

func TestCheckpointIntervalSetting(t *testing.T) {
	err := run(context.Background(), []string{"serve", "-checkpoint-interval", "10ms"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "at least 1s")
	err = run(context.Background(), []string{"audit", "nope"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "audit checkpoint")
}

// TestServeSignsCheckpoints: serve creates the key file, trusts it, signs
// the chains that moved and publishes the key.
func TestServeSignsCheckpoints(t *testing.T) {
	url := storetest.NewURL(t)
	keyFile := filepath.Join(t.TempDir(), "keys", "audit-signing.key")
	cfg, _, err := parseConfig("test", []string{"-database-url", url, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-signing-key-file", keyFile, "-checkpoint-interval", "1s"}, io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startServe(t, ctx, cfg, func(a *running) (string, error) {
		tn, err := a.Tenants.Create(ctx, tenant.New{Name: "Signed B.V.", Country: "NL", ContactEmail: "privacy@signed.example"})
		if err != nil {
			return "", err
		}
		return tn.ID, nil
	})
	s := struct {
		a        *running
		addr, id string
	}{srv.a, srv.addr, srv.seed}

	st, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	signer, err := keys.LoadLocalSigner(keyFile)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		cps, err := s.a.Audit.Checkpoints(ctx, s.id, 0, 10)
		return err == nil && len(cps) == 1
	}, 30*time.Second, 50*time.Millisecond, "the new tenant's chain is signed at once")
	r, err := s.a.Audit.Verify(ctx, s.id)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r)
	require.Equal(t, 1, r.Checkpoints)

	res, err := http.Get("http://" + s.addr + "/v1/audit/signing-keys")
	require.NoError(t, err)
	defer res.Body.Close()
	var body struct {
		Items []struct {
			KeyID string `json:"key_id"`
		}
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Len(t, body.Items, 1)
	require.Equal(t, signer.KeyID(), body.Items[0].KeyID)

	cancel()
	select {
	case err := <-srv.done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
}
