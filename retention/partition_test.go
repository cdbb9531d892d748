package retention_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
)

// A month whose records are all past their deadline is purged by dropping
// its partition: not while a hold keeps one of them, then certified like
// any sweep (counts, subjects crypto-shredded, the partition verified
// gone), while another month's records stay.
func TestPartitionDropped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Deadlines 2026-04-01 (March 2, 30 days), in the default partition
	// until the April partition is created and takes them over.
	st := f.write(t, message("visitor-1"), message("visitor-1"), message("visitor-2"))
	f.clock.Advance(days(35))
	later := f.write(t, message("visitor-3"))
	require.Equal(t, time.May, later[0].DeleteAfter.UTC().Month())
	require.NoError(t, f.db.InTx(f.ctx, func(tx pgx.Tx) error {
		_, err := records.EnsurePartitions(f.ctx, tx, time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC))
		return err
	}))
	assert.Equal(t, 0, f.count(t, `SELECT count(*) FROM records_default`))
	assert.Equal(t, 3, f.count(t, `SELECT count(*) FROM records_2026_04`))

	h, err := f.svc.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeSubject, SubjectID: st[2].SubjectID, Reason: "court order 2026/17", Owner: "legal", ReviewOn: review(f)})
	require.NoError(t, err)
	f.clock.Set(time.Date(2026, time.May, 1, 0, 30, 0, 0, time.UTC))
	dropped, err := f.svc.PurgePartitions(f.ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"records_2026_03"}, dropped, "March is empty; a hold keeps April")
	assert.Equal(t, 4, f.records_(t))

	_, err = f.svc.Lift(f.ctx, f.tenant, h.ID, "court order lifted")
	require.NoError(t, err)
	dropped, err = f.svc.PurgePartitions(f.ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"records_2026_04"}, dropped)
	assert.Equal(t, 1, f.records_(t), "May's record stays")
	assert.Equal(t, 0, f.count(t, `SELECT count(*) FROM pg_class WHERE relname = 'records_2026_04'`))
	assert.Equal(t, 0, f.count(t, `SELECT count(*) FROM subject_keys WHERE tenant_id = $1 AND subject_id = ANY($2)`, f.tenant,
		[]string{st[0].SubjectID, st[2].SubjectID}))
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM subject_keys WHERE tenant_id = $1`, f.tenant))

	sweeps, err := f.svc.Sweeps(f.ctx, f.tenant, "", 10)
	require.NoError(t, err)
	var w retention.Sweep
	for _, s := range sweeps {
		if s.Records > 0 {
			w = s
		}
	}
	assert.Equal(t, retention.StatusCompleted, w.Status)
	assert.EqualValues(t, 3, w.Records)
	assert.EqualValues(t, 2, w.Subjects)
	assert.Equal(t, map[string]int64{"chat.message": 3}, w.What)
	assert.NotEmpty(t, w.AuditHash)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM retention_sweep_batches WHERE tenant_id = $1 AND dropped_partition = 'records_2026_04'`, f.tenant))

	// Nothing left to drop: a second purge is a no-op.
	dropped, err = f.svc.PurgePartitions(f.ctx)
	require.NoError(t, err)
	assert.Empty(t, dropped)
}
