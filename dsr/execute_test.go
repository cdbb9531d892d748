package dsr_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/records"
)

// startJobs runs the service's workers on a River client until stop.
func (f *fixture) startJobs(t *testing.T) *river.Client[pgx.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	f.svc.Register(workers)
	f.records.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(f.db.Pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		RetryPolicy:       notifytest.QuickRetry{},
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	f.svc.UseClient(client)
	f.records.UseClient(client)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() { _ = client.StopAndCancel(context.Background()) })
	return client
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExportKilledHalfwayResumes: the replica running an export job is
// stopped while the job runs (its context cancelled mid-export), once the
// request shows the export's progress (records done of the total).
// Nothing half-written is left: the request stays in progress without an
// export.
// Another replica's client picks the job up again and completes it, with
// every record in the ZIP.
func TestExportKilledHalfwayResumes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const n = 10000
	f.seed(t, "visitor-kill", n)
	first := f.startJobs(t)
	r, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeAccess, SubjectRef: "visitor-kill"})
	require.NoError(t, err)
	require.NotEmpty(t, r.SubjectID)
	_, err = f.svc.Instruct(f.ctx, f.tenant, r.ID, dsr.Instruction{Action: dsr.ActionExport}, nil)
	require.NoError(t, err)
	var got dsr.Request
	waitFor(t, "the export job to show progress", func() bool {
		got, _, err = f.svc.Get(f.ctx, f.tenant, r.ID)
		require.NoError(t, err)
		return got.ExportDone > 0
	})
	require.NoError(t, first.StopAndCancel(context.Background()))
	require.Equal(t, n, got.ExportTotal)
	require.Less(t, got.ExportDone, n)
	require.Less(t, got.Progress, 100)

	got, _, err = f.svc.Get(f.ctx, f.tenant, r.ID)
	require.NoError(t, err)
	require.Equal(t, dsr.StateInProgress, got.State, "killed before it finished")
	_, err = f.svc.Download(f.ctx, f.tenant, r.ID)
	require.Error(t, err, "no half-written export")

	f.startJobs(t)
	waitFor(t, "the export to complete", func() bool {
		got, _, err = f.svc.Get(f.ctx, f.tenant, r.ID)
		require.NoError(t, err)
		return got.State == dsr.StateCompleted
	})
	require.Equal(t, 100, got.Progress)
	require.Equal(t, n, got.ExportDone)
	require.Equal(t, n, got.ExportTotal)
	raw, err := f.svc.Download(f.ctx, f.tenant, r.ID)
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	names := []string{}
	for _, file := range zr.File {
		names = append(names, file.Name)
	}
	require.ElementsMatch(t, []string{"records.json", "records-chat.message.csv", "summary.txt"}, names)
	var doc bytes.Buffer
	for _, file := range zr.File {
		if file.Name == "records.json" {
			rc, err := file.Open()
			require.NoError(t, err)
			_, err = doc.ReadFrom(rc)
			require.NoError(t, err)
			rc.Close()
		}
	}
	require.Contains(t, doc.String(), `"count":10000}`)
}

// TestDuplicateIsLinked: a second open request of the same type for the
// same subject is a duplicate of the first, not forwarded again.
func TestDuplicateIsLinked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t, "visitor-dup", 1)
	a, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeErasure, SubjectRef: "visitor-dup"})
	require.NoError(t, err)
	b, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeErasure, SubjectRef: "visitor-dup"})
	require.NoError(t, err)
	require.Equal(t, dsr.StateDuplicate, b.State)
	require.Equal(t, a.ID, b.DuplicateOf)
	c, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeAccess, SubjectRef: "visitor-dup"})
	require.NoError(t, err)
	require.Empty(t, c.DuplicateOf, "another right is another request")
}

// TestWeekly counts requests per week and type with deadline compliance,
// and lists them by deadline.
func TestWeekly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := f.clock.Now() // Monday 2 March 2026
	f.clock.Set(now.Add(40 * 24 * time.Hour))
	for _, c := range []struct {
		t   dsr.Type
		at  time.Time
		end bool
	}{
		{dsr.TypeAccess, now, true},                            // week of 2 March, rejected in time
		{dsr.TypeAccess, now.Add(24 * time.Hour), false},       // week of 2 March, overdue
		{dsr.TypeErasure, now.Add(8 * 24 * time.Hour), false},  // week of 9 March, overdue
		{dsr.TypeErasure, now.Add(36 * 24 * time.Hour), false}, // open, in time
	} {
		r, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: c.t, ReceivedAt: c.at})
		require.NoError(t, err)
		if c.end {
			_, err = f.svc.Instruct(f.ctx, f.tenant, r.ID, dsr.Instruction{Action: dsr.ActionReject, Reason: "no identity"}, nil)
			require.NoError(t, err)
		}
	}
	weeks, err := f.svc.Weekly(f.ctx, f.tenant, now.Add(-7*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []dsr.Week{
		{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Type: dsr.TypeAccess, Received: 2, InTime: 0, Late: 2},
		{Start: time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), Type: dsr.TypeErasure, Received: 1, Late: 1},
		{Start: time.Date(2026, 4, 6, 0, 0, 0, 0, time.UTC), Type: dsr.TypeErasure, Received: 1, Open: 1},
	}, weeks)
	list, err := f.svc.List(f.ctx, f.tenant, true, 10)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.True(t, list[0].Due.Due.Before(list[1].Due.Due))
	require.True(t, list[0].Overdue(f.clock.Now()))
}

// TestRectify re-seals the corrected record at once; the request keeps the
// record ids, never the new values.
func TestRectify(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sid := f.seed(t, "visitor-rect", 2)
	var recordID string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT id FROM records WHERE subject_id = $1 ORDER BY seq LIMIT 1`, sid).Scan(&recordID))
	r, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeRectification, SubjectRef: "visitor-rect"})
	require.NoError(t, err)
	_, err = f.svc.Instruct(f.ctx, f.tenant, r.ID, dsr.Instruction{Action: dsr.ActionRectify,
		Corrections: []records.Correction{{RecordID: "rec_01KJPWD6M2SCEZHYAQBMJ68TSM", Content: json.RawMessage(`{"text":"x"}`)}}}, nil)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "another subject's or no record")
	got, err := f.svc.Instruct(f.ctx, f.tenant, r.ID, dsr.Instruction{Action: dsr.ActionRectify,
		Corrections: []records.Correction{{RecordID: recordID, Content: json.RawMessage(`{"text":"corrected address"}`)}}}, nil)
	require.NoError(t, err)
	require.Equal(t, dsr.StateCompleted, got.State)
	require.Equal(t, []string{recordID}, got.Instruction.RecordIDs)
	var raw []byte
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT instruction FROM dsr_requests WHERE id = $1`, r.ID).Scan(&raw))
	require.NotContains(t, string(raw), "corrected address")
	var buf bytes.Buffer
	_, err = dsr.BuildExport(f.ctx, f.records, f.tenant, sid, "en", f.clock.Now(), &buf, nil)
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	rc, err := zr.Open("records.json")
	require.NoError(t, err)
	doc, _ := io.ReadAll(rc)
	require.Contains(t, string(doc), `"content":{"text":"corrected address"}`)
	require.Equal(t, 1, strings.Count(string(doc), "corrected address"))
}

// TestSweepSealsClearContacts: a request written before contacts were
// sealed (its address and details in the clear columns) is sealed by the
// sweep with the tenant's key, and the clear columns are emptied.
func TestSweepSealsClearContacts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r, err := f.svc.Create(f.ctx, f.tenant, dsr.Intake{Type: dsr.TypeAccess})
	require.NoError(t, err)
	_, err = f.db.Pool.Exec(f.ctx, `UPDATE dsr_requests SET email = 'legacy@example.org', details = 'old free text' WHERE id = $1`, r.ID)
	require.NoError(t, err)
	_, err = f.svc.Sweep(f.ctx)
	require.NoError(t, err)
	var email, details string
	var key *string
	var sealed, digest []byte
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT email, details, contact_key, contact, email_digest FROM dsr_requests WHERE id = $1`, r.ID).
		Scan(&email, &details, &key, &sealed, &digest))
	require.Empty(t, email)
	require.Empty(t, details)
	require.NotNil(t, key)
	require.NotEmpty(t, sealed)
	require.NotContains(t, string(sealed), "legacy@example.org")
	require.Len(t, digest, 32)
	n, err := f.svc.SealLegacyContacts(f.ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left in the clear")
}
