package breach

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
)

// regoFiles holds the triage policy (triage.rego) and its Rego unit tests
// (triage_test.rego), which `opa test breach/rego` runs as well.
//
//go:embed rego/*.rego
var regoFiles embed.FS

// RegoFiles returns the embedded Rego files, tests included.
func RegoFiles() fs.FS {
	sub, err := fs.Sub(regoFiles, "rego")
	if err != nil {
		panic(err)
	}
	return sub
}

// PrefixIncident is the id prefix of incidents.
const PrefixIncident = "brc"

// Webhook event types of breach notices.
const (
	EventNotice = "breach.notice"
)

// EventEscalation is the event type of the e-mail that escalates a breach
// clock to the DPO.
const EventEscalation = "breach.escalation"

// Options are the service's settings.
type Options struct {
	// DPOEmails are the platform DPO's addresses: each escalation of a
	// breach clock (EscalationHours) is e-mailed to them through the
	// outbox, beside the alarm. None: alarms only.
	DPOEmails []string
	// PublicURL is the absolute base URL the controllers reach verwerker
	// at ("https://verwerker.example.com"): the acknowledgement links in
	// notice e-mails and the dashboard links in escalations start with it.
	PublicURL string
}

// Service keeps incidents, their triage, impact, notices and register.
type Service struct {
	db     *store.DB
	clock  verwerker.Clock
	audit  *audit.Log
	outbox *notify.Outbox
	opts   Options
	triage rego.PreparedEvalQuery
}

// New returns a Service on db. Notices go out through outbox (nil sends
// none: every notice is undelivered), which tells the service of each
// delivery attempt.
func New(ctx context.Context, db *store.DB, clock verwerker.Clock, log *audit.Log, outbox *notify.Outbox, opts Options) (*Service, error) {
	src, err := regoFiles.ReadFile("rego/triage.rego")
	if err != nil {
		return nil, err
	}
	q, err := rego.New(rego.Query("data.verwerker.breach.triage"), rego.Module("triage.rego", string(src))).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("breach: triage policy: %w", err)
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	s := &Service{db: db, clock: clock, audit: log, outbox: outbox, opts: opts, triage: q}
	if outbox != nil {
		outbox.Observe(EventNotice, s.observe)
	}
	return s, nil
}

// tx runs fn in the platform scope (every tenant), mapping unexpected
// errors to EINTERNAL.
func (s *Service) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return verwerker.Wrap("breach: "+op, s.db.InTenantTx(ctx, "*", fn))
}

// tenantTx runs fn in one tenant's scope.
func (s *Service) tenantTx(ctx context.Context, op, tenantID string, fn func(tx pgx.Tx) error) error {
	return verwerker.Wrap("breach: "+op, s.db.InTenantTx(ctx, tenantID, fn))
}

var errNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "incident not found")
