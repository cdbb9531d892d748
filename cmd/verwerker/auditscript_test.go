package main

import (
	"context"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/tenant"
)

// TestAuditVerifyScript runs the README's independent check of a tenant's
// audit trail (deploy/audit-verify.sh: bash, curl, jq, sha256sum, base64
// and OpenSSL) against a running server, on a chain longer than one page
// of the export: it verifies every event and the checkpoint, names an event
// changed on the second page, and catches a rewrite with every later hash
// recomputed by the checkpoint.
func TestAuditVerifyScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "sha256sum", "base64", "openssl"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the audit procedure of the README needs %s", tool)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "audit-verify.sh"))
	require.NoError(t, err)
	url := storetest.NewURL(t)
	cfg, _, err := parseConfig("test", []string{"-database-url", url, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-signing-key-file", filepath.Join(t.TempDir(), "audit-signing.key"), "-checkpoint-interval", "1h"}, io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// tenant.create, keys.issue and 1,050 denials: the export's pages hold
	// 1,000.
	const denials, head = 1050, 1052
	type seeded struct{ id, token string }
	srv := startServe(t, ctx, cfg, func(a *running) (seeded, error) {
		tn, err := a.Tenants.Create(ctx, tenant.New{Name: "Long Chain B.V.", Country: "NL", ContactEmail: "privacy@chain.example"})
		if err != nil {
			return seeded{}, err
		}
		_, token, err := a.Keys.Issue(ctx, identity.NewKey{Label: "auditor", Role: policy.RoleAuditor, Domain: tn.ID})
		if err != nil {
			return seeded{}, err
		}
		var wg sync.WaitGroup
		errs := make(chan error, denials)
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < denials; i += 10 {
					_, err := a.Audit.Append(ctx, audit.Event{Chain: tn.ID, Actor: "key_chat", Action: "decision.deny", Resource: tn.ID,
						Outcome: audit.Denied, Reason: "codes=purpose_not_in_scope"})
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return seeded{}, err
			}
		}
		return seeded{tn.ID, token}, nil
	})
	s := struct {
		a               *running
		addr, id, token string
	}{srv.a, srv.addr, srv.seed.id, srv.seed.token}
	require.Eventually(t, func() bool {
		cps, err := s.a.Audit.Checkpoints(ctx, s.id, 0, 10)
		return err == nil && len(cps) == 1 && cps[0].Seq == head
	}, 30*time.Second, 50*time.Millisecond, "the chain is signed at start")
	events, err := s.a.Audit.Events(ctx, s.id, 0, head)
	require.NoError(t, err)
	require.Len(t, events, head)

	verify := func() (int, string) {
		t.Helper()
		cmd := exec.Command("bash", script, "http://"+s.addr, s.id, t.TempDir())
		cmd.Env = append(os.Environ(), "KEY="+s.token)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil {
			require.ErrorAs(t, err, &exit, "%s", out)
			return exit.ExitCode(), string(out)
		}
		return 0, string(out)
	}
	code, out := verify()
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "chain verifies: 1052 events, head event 1052 hash "+hex.EncodeToString(events[head-1].Hash))
	require.Contains(t, out, "1 checkpoints verify (last: event 1052, signed at ")

	// A superuser changes an event on the second page.
	conn, err := s.a.DB.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release() // when a check fails; released below before serve closes the pool, which waits for it
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE audit_events SET reason = 'codes=in_scope' WHERE chain = $1 AND seq = 1020`, s.id)
	require.NoError(t, err)
	code, out = verify()
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "bad hash at event 1020")
	require.NotContains(t, out, "chain verifies")

	// And recomputes every later hash and the head: the chain alone
	// verifies, the checkpoint does not.
	prev := events[1018].Hash
	for _, e := range events[1019:] {
		if e.Seq == 1020 {
			e.Reason = "codes=in_scope"
		}
		e.PrevHash = prev
		e.Hash = audit.ComputeHash(prev, e.Canonical())
		_, err = conn.Exec(ctx, `UPDATE audit_events SET prev_hash = $3, hash = $4 WHERE chain = $1 AND seq = $2`, s.id, e.Seq, e.PrevHash, e.Hash)
		require.NoError(t, err)
		prev = e.Hash
	}
	_, err = conn.Exec(ctx, `UPDATE audit_heads SET hash = $2 WHERE chain = $1`, s.id, prev)
	require.NoError(t, err)
	code, out = verify()
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "chain verifies: 1052 events, head event 1052 hash "+hex.EncodeToString(prev))
	require.Contains(t, out, "event 1052 is missing or differs from the checkpoint signed at ")
	_, err = conn.Exec(ctx, `RESET session_replication_role`)
	require.NoError(t, err)
	conn.Release()

	cancel()
	select {
	case err := <-srv.done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
}
