package dsr

import (
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/deadline"
)

// PrefixRequest names a data-subject request; PrefixVerification a pending
// verification of one.
const (
	PrefixRequest      = "dsr"
	PrefixVerification = "dsv"
)

// Type is the right a request exercises.
type Type string

// Types of request (GDPR Art. 15-18, 20, 21).
const (
	TypeAccess        Type = "access"
	TypeRectification Type = "rectification"
	TypeErasure       Type = "erasure"
	TypeRestriction   Type = "restriction"
	TypePortability   Type = "portability"
	TypeObjection     Type = "objection"
)

// Types lists every type.
var Types = []Type{TypeAccess, TypeRectification, TypeErasure, TypeRestriction, TypePortability, TypeObjection}

// State is where a request stands, for a DPO to read at a glance. A request
// from the public intake is "verification_pending" (in
// dsr_verifications, not yet a request) until its code is verified.
type State string

// States of a request.
const (
	StateReceived            State = "received"             // recorded, not yet forwarded
	StateForwarded           State = "forwarded"            // notice to the controller enqueued
	StateAwaitingInstruction State = "awaiting_instruction" // the controller was told; its instruction is awaited
	StateInProgress          State = "in_progress"          // an instruction is being executed
	StateWaitingOnSubject    State = "waiting_on_subject"   // paused: the clock stands still
	StateCompleted           State = "completed"
	StateRejected            State = "rejected"
	StateDuplicate           State = "duplicate" // linked to an open request of the same subject and type
	StateFailed              State = "failed"    // a step could not succeed; an alarm until retried
)

// Open reports whether the request still runs against its deadline.
func (s State) Open() bool {
	switch s {
	case StateCompleted, StateRejected, StateDuplicate:
		return false
	}
	return true
}

// Sources of a request.
const (
	SourceSubject    = "subject"
	SourceController = "controller"
)

// Request is a data-subject request.
type Request struct {
	TenantID string
	ID       string
	Type     Type
	State    State
	Source   string
	// SubjectID is the matched subject's pseudonymous id; empty when the
	// request matched no subject (it is forwarded all the same, marked
	// unmatched).
	SubjectID string
	Language  string
	// ReceivedAt starts the statutory clock.
	ReceivedAt time.Time
	// Due is the statutory deadline: one month (plus ExtensionMonths)
	// from ReceivedAt by Regulation 1182/71, shifted by PausedFor.
	Due deadline.Deadline
	// ForwardDueAt is verwerker's own service level for forwarding.
	ForwardDueAt    time.Time
	ForwardedAt     *time.Time
	ExtensionMonths int
	ExtensionReason string
	PausedAt        *time.Time
	PausedFor       time.Duration
	DuplicateOf     string
	RejectReason    string
	Instruction     *Instruction
	// Progress is the percentage of the running execution; ExportDone of
	// ExportTotal records an export has written so far.
	Progress                int
	ExportDone, ExportTotal int
	CertificateID           string
	// Kept says, per data category, how many records an erasure kept and
	// why: {"billing.invoice": {"records": 3, "reason": "..."}}.
	Kept           map[string]Kept
	Failure        string
	FailedAt       *time.Time
	FailedMessages []string
	Reminders      []int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	CompletedAt    *time.Time
}

// Kept is what an erasure kept of one data category, and why.
type Kept struct {
	Records int64  `json:"records"`
	Reason  string `json:"reason"`
}

// Overdue reports whether the request is open and its deadline passed at now.
func (r *Request) Overdue(now time.Time) bool {
	return r.State.Open() && r.PausedAt == nil && !now.Before(r.Due.Due)
}

// Step is one entry of a request's timeline.
type Step struct {
	At     time.Time
	Actor  string
	Action string
	Detail string
}

const requestColumns = `tenant_id, id, type, state, source, coalesce(subject_id, ''), language, received_at, due_last_day::text, due_at,
	forward_due_at, forwarded_at, extension_months, extension_reason, paused_at, paused_seconds, coalesce(duplicate_of, ''), reject_reason,
	instruction, progress, export_done, export_total, coalesce(certificate_id, ''), kept, failure, failed_at, failed_messages, reminders, created_at, updated_at, completed_at`

func scanRequest(row pgx.Row) (Request, error) {
	var r Request
	var lastDay string
	var paused int64
	var instr, kept []byte
	var reminders []int32
	err := row.Scan(&r.TenantID, &r.ID, &r.Type, &r.State, &r.Source, &r.SubjectID, &r.Language, &r.ReceivedAt, &lastDay, &r.Due.Due,
		&r.ForwardDueAt, &r.ForwardedAt, &r.ExtensionMonths, &r.ExtensionReason, &r.PausedAt, &paused, &r.DuplicateOf, &r.RejectReason,
		&instr, &r.Progress, &r.ExportDone, &r.ExportTotal, &r.CertificateID, &kept, &r.Failure, &r.FailedAt, &r.FailedMessages, &reminders, &r.CreatedAt, &r.UpdatedAt, &r.CompletedAt)
	if err != nil {
		return r, err
	}
	r.Due.LastDay, _ = deadline.ParseDate(lastDay)
	r.PausedFor = time.Duration(paused) * time.Second
	if instr != nil {
		r.Instruction = &Instruction{}
		if err := json.Unmarshal(instr, r.Instruction); err != nil {
			return r, err
		}
	}
	if kept != nil {
		if err := json.Unmarshal(kept, &r.Kept); err != nil {
			return r, err
		}
	}
	for _, n := range reminders {
		r.Reminders = append(r.Reminders, int(n))
	}
	r.ReceivedAt, r.Due.Due, r.ForwardDueAt = r.ReceivedAt.UTC(), r.Due.Due.UTC(), r.ForwardDueAt.UTC()
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}
