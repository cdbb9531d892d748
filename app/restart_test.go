package app_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/store/storetest"
)

// The tests in this file restart PostgreSQL (a fast shutdown: every
// session ends, transactions in flight roll back, as a failover or an
// operator's restart does) while a job is inside its transaction, on a
// private cluster (storetest.NewCluster), and show that the work resumes
// when the database is back and is done exactly once.

// TestRestartDuringSweep: PostgreSQL restarts while a retention sweep job
// is inside its second deleting batch. The job fails, River retries it
// when the database answers again, and the sweep resumes where it stood:
// one certificate counting every record and subject once, a ledger naming
// each record once, one audit event.
func TestRestartDuringSweep(t *testing.T) {
	t.Parallel()
	c, e, a := restartable(t)
	tn := e.customer(t, a, "Sweep B.V.")
	e.write(t, a, tn.ID, "visitor", 50, 50) // 2,500 records: three batches of retention.SweepBatch
	e.clock.Advance(31 * 24 * time.Hour)
	e.pause(t, "retention_sweep_batches", 2)
	e.jobs(t, a, false)
	require.NoError(t, a.Retention.Schedule(e.ctx))
	e.waitPaused(t)
	require.Equal(t, 2500-retention.SweepBatch, e.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, tn.ID), "one batch done")

	c.Restart(t)
	waitFor(t, "the sweep to complete", func() bool {
		return e.count(t, `SELECT count(*) FROM retention_sweeps WHERE tenant_id = $1 AND status = 'completed'`, tn.ID) == 1
	})
	list, err := a.Retention.Sweeps(e.ctx, tn.ID, "", 10)
	require.NoError(t, err)
	require.Len(t, list, 1, "one sweep, resumed, not a second one")
	require.EqualValues(t, 2500, list[0].Records)
	require.EqualValues(t, 50, list[0].Subjects)
	require.EqualValues(t, 2500, list[0].What["chat.message"])
	require.Zero(t, e.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, tn.ID))
	require.Equal(t, 2500, e.count(t, `SELECT count(*) FROM retention_sweep_batches b, unnest(b.record_ids) WHERE b.tenant_id = $1`, tn.ID))
	require.Equal(t, 2500, e.count(t, `SELECT count(DISTINCT id) FROM retention_sweep_batches b, unnest(b.record_ids) AS id WHERE b.tenant_id = $1`, tn.ID))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.sweep'`, tn.ID))
	e.waitJob(t, "retention.sweep")
}

// TestRestartDuringExport: PostgreSQL restarts while the data-subject
// export job is writing its ZIP. The job runs again when the database is
// back: one ZIP with every record, one export_ready step, one message to
// the controller.
func TestRestartDuringExport(t *testing.T) {
	t.Parallel()
	c, e, a := restartable(t)
	tn := e.customer(t, a, "Export B.V.")
	e.write(t, a, tn.ID, "asker", 1, 400)
	e.write(t, a, tn.ID, "other", 1, 5)
	e.jobs(t, a, false)
	r, err := a.Requests.Create(e.ctx, tn.ID, dsr.Intake{Type: dsr.TypeAccess, SubjectRef: "asker-0"})
	require.NoError(t, err)
	e.pause(t, "dsr_exports", 1)
	_, err = a.Requests.Instruct(e.ctx, tn.ID, r.ID, dsr.Instruction{Action: dsr.ActionExport}, nil)
	require.NoError(t, err)
	e.waitPaused(t)

	c.Restart(t)
	var got dsr.Request
	var steps []dsr.Step
	waitFor(t, "the export to complete", func() bool {
		got, steps, err = a.Requests.Get(e.ctx, tn.ID, r.ID)
		return err == nil && got.State == dsr.StateCompleted
	})
	ready := 0
	for _, s := range steps {
		if s.Action == "export_ready" {
			ready++
		}
	}
	require.Equal(t, 1, ready, "one export_ready step")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM dsr_exports WHERE tenant_id = $1 AND request_id = $2`, tn.ID, r.ID), "one ZIP")
	raw, err := a.Requests.Download(e.ctx, tn.ID, r.ID)
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	var doc []byte
	for _, f := range zr.File {
		if f.Name == "records.json" {
			rc, err := f.Open()
			require.NoError(t, err)
			doc, err = io.ReadAll(rc)
			require.NoError(t, err)
			rc.Close()
		}
	}
	require.Contains(t, string(doc), `"count":400}`, "every record of the subject, once, and no other subject's")
	e.waitJob(t, "dsr.execute")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM outbox_messages WHERE tenant_id = $1 AND idempotency_key LIKE '%export_ready%'`, tn.ID),
		"the controller is told once")
}

// TestRestartDuringBreachFanOut: PostgreSQL restarts while the first
// breach notices are being written (one transaction for every customer
// with its outbox rows). Nothing of it remains; notifying again after the
// restart sends every affected controller its notice, exactly one, and
// each is delivered by e-mail once.
func TestRestartDuringBreachFanOut(t *testing.T) {
	t.Parallel()
	c, e, a := restartable(t)
	names := []string{"Alpha", "Bravo", "Charlie"}
	var ids []string
	for _, n := range names {
		tn := e.customer(t, a, n+" B.V.")
		e.write(t, a, tn.ID, "visitor", 2, 3)
		ids = append(ids, tn.ID)
	}
	discovered := e.clock.Now().Add(time.Hour)
	e.clock.Advance(2 * time.Hour)
	i, err := a.Breaches.Report(e.ctx, breach.Report{Title: "Misconfigured bucket", Description: "Chat exports were readable without authentication.",
		Kinds: []string{"confidentiality"}, StartedAt: ptr(discovered.Add(-3 * time.Hour)), EndedAt: ptr(discovered.Add(-time.Minute)),
		DiscoveredAt: discovered, DiscoveredHow: "Alert of the storage scanner", Systems: []string{"chat"}, Categories: []string{"chat.message"},
		Consequences: "Messages may have been read.", Measures: "Bucket closed.", Contact: "security@verwerker.example"}, breach.ViaStaff)
	require.NoError(t, err)
	_, err = a.Breaches.Triage(e.ctx, i.ID, breach.Assessment{Actual: true, PersonalData: true, Kinds: []string{"confidentiality"}})
	require.NoError(t, err)
	e.jobs(t, a, false)

	e.pause(t, "breach_notices", 2)
	failed := make(chan error, 1)
	go func() {
		_, err := a.Breaches.Notify(e.ctx, i.ID)
		failed <- err
	}()
	e.waitPaused(t)
	c.Restart(t)
	require.Error(t, <-failed, "the fan-out in flight ended with the restart")
	require.Zero(t, e.count(t, `SELECT count(*) FROM breach_notices WHERE incident_id = $1`, i.ID), "nothing half-written")
	require.Zero(t, e.count(t, `SELECT count(*) FROM outbox_messages WHERE idempotency_key LIKE 'breach/%'`))

	notices, err := a.Breaches.Notify(e.ctx, i.ID)
	require.NoError(t, err, "notifying again after the restart")
	require.Len(t, notices, len(names))
	again, err := a.Breaches.Notify(e.ctx, i.ID)
	require.NoError(t, err)
	require.Empty(t, again, "one first notice per controller")
	waitFor(t, "every notice delivered", func() bool {
		list, err := a.Breaches.Notices(e.ctx, i.ID)
		if err != nil || len(list) != len(names) {
			return false
		}
		for _, n := range list {
			if n.Delivery.State != breach.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	for k, n := range names {
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM breach_notices WHERE incident_id = $1 AND tenant_id = $2`, i.ID, ids[k]))
		require.Len(t, e.mails(t, "breach-"+lower(n)+"@"+e.domain), 1, "one e-mail to %s's breach desk", n)
	}
}

// restartable gives the test a private PostgreSQL it may restart, an env
// on its database and a replica.
func restartable(t *testing.T) (storetest.Cluster, *env, *app.App) {
	t.Helper()
	c := storetest.NewCluster(t)
	e := newEnv(t, c.URL())
	return c, e, e.replica(t)
}

// waitJob waits until the one job of kind has completed, on a later
// attempt than the one the restart interrupted.
func (e *env) waitJob(t *testing.T, kind string) {
	t.Helper()
	waitFor(t, "the interrupted "+kind+" job to complete", func() bool {
		return e.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed' AND attempt >= 2`, kind) == 1
	})
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind), "one job")
}

func ptr[T any](v T) *T { return &v }

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// mails returns the ids of the e-mails mailpit holds for to.
func (e *env) mails(t *testing.T, to string) []string {
	t.Helper()
	resp, err := http.Get(e.mailpit + "/api/v1/search?query=" + url.QueryEscape("to:"+to))
	require.NoError(t, err)
	defer resp.Body.Close()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	out := []string{}
	for _, m := range list.Messages {
		out = append(out, m.ID)
	}
	return out
}
