package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestTwoReplicas runs two replicas (app.New and app.Jobs each, as two
// `verwerker serve` processes would) on one database with their River
// clients and periodic jobs: retention sweeps of ten customers, the
// data-subject requests' reminders, a breach clock's escalation and the
// e-mails they send. The jobs are spread across both replicas and none
// runs twice. One replica is stopped hard (its jobs' contexts cancelled)
// while a sweep of its is inside a deleting batch: the other finishes
// everything and nothing is lost or done twice.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.NewURL(t))
	a, b := e.replica(t), e.replica(t)
	ca, cb := e.client(t, a, true), e.client(t, b, true)
	const customers, subjects, perSubject = 10, 10, 20
	var ids []string
	for k := range customers {
		tn := e.customer(t, a, fmt.Sprintf("Customer%02d B.V.", k))
		e.write(t, a, tn.ID, "visitor", subjects, perSubject)
		ids = append(ids, tn.ID)
	}
	// A request per customer, received five days later: a month after it
	// its deadline; the reminder seven days before it is due when the
	// replicas start.
	e.clock.Advance(5 * 24 * time.Hour)
	var requests []string
	for _, id := range ids {
		r, err := b.Requests.Create(e.ctx, id, dsr.Intake{Type: dsr.TypeAccess, SubjectRef: "visitor-0"})
		require.NoError(t, err)
		requests = append(requests, r.ID)
	}
	e.clock.Advance(26 * 24 * time.Hour) // 31 days after the records: every one is due
	i, err := a.Breaches.Report(e.ctx, breach.Report{Title: "Lost laptop", Description: "A laptop with a database dump was stolen.",
		Kinds: []string{"confidentiality"}, DiscoveredAt: e.clock.Now().Add(-25 * time.Hour), DiscoveredHow: "Reported by staff",
		Systems: []string{"chat"}, Categories: []string{"chat.message"}, Consequences: "Messages may be read.", Measures: "Disk encrypted.",
		Contact: "security@verwerker.example"}, breach.ViaStaff)
	require.NoError(t, err)
	_, err = a.Breaches.Triage(e.ctx, i.ID, breach.Assessment{Actual: true, PersonalData: true, Kinds: []string{"confidentiality"}})
	require.NoError(t, err)

	e.pause(t, "retention_sweep_batches", 3)
	clients := map[string]*river.Client[pgx.Tx]{}
	e.start(t, ca)
	e.start(t, cb)
	clients[ca.ID()], clients[cb.ID()] = ca, cb
	paused := e.waitPaused(t)
	var owner string
	waitFor(t, "the paused sweep's job to be running", func() bool {
		err := e.db.Pool.QueryRow(context.Background(), `SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job
			WHERE kind = 'retention.sweep' AND state = 'running' AND args->>'tenant_id' = $1`, paused).Scan(&owner)
		return err == nil
	})
	victim := clients[owner]
	require.NotNil(t, victim, "a replica's client runs it")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, victim.StopAndCancel(ctx), "stopped hard, its job cancelled inside the batch")
	var survivor string
	for id := range clients {
		if id != owner {
			survivor = id
		}
	}

	waitFor(t, "every sweep, reminder, escalation and e-mail", func() bool {
		return e.count(t, `SELECT count(*) FROM retention_sweeps WHERE status = 'completed' AND records_count > 0`) == customers &&
			e.count(t, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded') AND kind NOT LIKE 'records.rotat%'`) == 0 &&
			e.count(t, `SELECT count(*) FROM breach_escalations WHERE incident_id = $1`, i.ID) > 0
	})

	// Nothing lost, nothing twice. A sweep job stopped after its
	// certificate committed but before River recorded the job as done runs
	// again and certifies an empty sweep, as the next periodic sweep would:
	// records are deleted and certified once.
	for _, id := range ids {
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM retention_sweeps WHERE tenant_id = $1 AND records_count > 0`, id),
			"one sweep per customer deleted its records")
		require.Equal(t, subjects*perSubject, e.count(t, `SELECT sum(records_count) FROM retention_sweeps WHERE tenant_id = $1`, id))
		require.Zero(t, e.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, id))
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.sweep'`, id))
	}
	require.Equal(t, customers*subjects*perSubject, e.count(t, `SELECT count(*) FROM retention_sweep_batches, unnest(record_ids)`))
	require.Equal(t, customers*subjects*perSubject, e.count(t, `SELECT count(DISTINCT id) FROM retention_sweep_batches, unnest(record_ids) AS id`),
		"no record in two ledgers")
	for _, id := range requests {
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM dsr_steps WHERE request_id = $1 AND action = 'remind'`, id), "reminded once")
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM breach_escalations WHERE incident_id = $1`, i.ID), "the 24-hour escalation, once")
	for _, kind := range []string{"retention.schedule", "dsr.sweep", "breach.clock"} {
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind), "the periodic %s enqueued once", kind)
	}
	require.Equal(t, customers, e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'retention.sweep' AND state = 'completed'`))
	require.Zero(t, e.count(t, `SELECT count(*) FROM outbox_messages WHERE status <> 'delivered'`))
	require.Zero(t, e.count(t, `SELECT count(*) FROM (SELECT message_id FROM outbox_attempts WHERE outcome = 'delivered'
		GROUP BY message_id HAVING count(*) > 1) twice`), "no message delivered twice")
	require.Positive(t, e.count(t, `SELECT count(*) FROM outbox_messages`))

	// Spread: each replica ran jobs; the interrupted one ran again on the
	// survivor.
	for id := range clients {
		require.Positive(t, e.count(t, `SELECT count(*) FROM river_job WHERE state = 'completed' AND $1 = ANY(attempted_by)`, id),
			"replica %s ran jobs", id)
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'retention.sweep' AND args->>'tenant_id' = $1
		AND state = 'completed' AND attempted_by[array_length(attempted_by, 1)] = $2 AND $3 = ANY(attempted_by)`, paused, survivor, owner))
	t.Logf("jobs per replica: %v", e.spread(t, clients))
}

// spread counts the completed jobs each client attempted last.
func (e *env) spread(t *testing.T, clients map[string]*river.Client[pgx.Tx]) map[string]int {
	out := map[string]int{}
	for id := range clients {
		out[id] = e.count(t, `SELECT count(*) FROM river_job WHERE state = 'completed' AND attempted_by[array_length(attempted_by, 1)] = $1`, id)
	}
	return out
}
