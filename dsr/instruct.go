package dsr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/subject"
)

// Action is what the controller instructs.
type Action string

// Actions of an instruction.
const (
	ActionExport          Action = "export"           // Art. 15, 20: a ZIP for the controller
	ActionErase           Action = "erase"            // Art. 17, respecting holds
	ActionRestrict        Action = "restrict"         // Art. 18: the decision engine refuses processing
	ActionLiftRestriction Action = "lift_restriction" // Art. 18(3)
	ActionObject          Action = "object"           // Art. 21: the purposes objected to
	ActionReject          Action = "reject"           // with a reason passed to the subject
	ActionRectify         Action = "rectify"          // Art. 16: records re-sealed with new values
)

// Actions lists every action.
var Actions = []Action{ActionExport, ActionErase, ActionRectify, ActionRestrict, ActionLiftRestriction, ActionObject, ActionReject}

// Instruction is the controller's instruction on a request.
type Instruction struct {
	Action Action `json:"action"`
	// Reason is the rejection's reason, passed to the subject.
	Reason string `json:"reason,omitempty"`
	// ObjectedPurposes are the purposes of an objection.
	ObjectedPurposes []string `json:"objected_purposes,omitempty"`
	// Corrections are a rectification's new values. They are applied
	// at once and never stored on the request: RecordIDs keeps which
	// records were corrected.
	Corrections []records.Correction `json:"-"`
	RecordIDs   []string             `json:"record_ids,omitempty"`
	// By and At say who instructed, when.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// MaxReason is the longest reason, in bytes.
const MaxReason = 1000

// ExecuteArgs is the job that executes a request's instruction.
type ExecuteArgs struct {
	TenantID  string `json:"tenant_id"`
	RequestID string `json:"request_id"`
}

// Kind names the job.
func (ExecuteArgs) Kind() string { return "dsr.execute" }

// InsertOpts: retried with River's backoff.
func (ExecuteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: ExecuteAttempts}
}

// ExecuteAttempts is how often an execution is attempted before the request
// fails visibly.
const ExecuteAttempts = 8

// Instruct records the controller's instruction on a request. Rejection
// completes the request and tells the subject the reason; restriction,
// lifting it and objection feed the decision engine at once, in the same
// transaction; export and erasure are executed by the job dsr.execute.
// validPurpose says which purposes exist.
func (s *Service) Instruct(ctx context.Context, tenantID, id string, in Instruction, validPurpose func(string) bool) (Request, error) {
	var fields []verwerker.FieldError
	if !slices.Contains(Actions, in.Action) {
		fields = append(fields, verwerker.FieldError{Field: "action", Message: "must be one of export, erase, rectify, restrict, lift_restriction, object, reject"})
	}
	if in.Action == ActionReject && strings.TrimSpace(in.Reason) == "" {
		fields = append(fields, verwerker.FieldError{Field: "reason", Message: "is required to reject"})
	}
	if len(in.Reason) > MaxReason || !utf8.ValidString(in.Reason) {
		fields = append(fields, verwerker.FieldError{Field: "reason", Message: fmt.Sprintf("must be UTF-8 text of at most %d bytes", MaxReason)})
	}
	if in.Action == ActionObject && len(in.ObjectedPurposes) == 0 {
		fields = append(fields, verwerker.FieldError{Field: "objected_purposes", Message: "is required to object"})
	}
	for i, p := range in.ObjectedPurposes {
		if validPurpose != nil && !validPurpose(p) {
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("objected_purposes[%d]", i), Message: "is not a purpose of the taxonomy"})
		}
	}
	if len(fields) > 0 {
		return Request{}, verwerker.Invalid("the instruction is not valid", fields...)
	}
	if in.Action == ActionRectify {
		// Applied first, in records' own transaction; re-sealing the same
		// values again is harmless if recording the step fails.
		cur, _, err := s.Get(ctx, tenantID, id)
		if err != nil {
			return Request{}, err
		}
		if !cur.State.Open() || cur.State == StateInProgress || cur.SubjectID == "" {
			return Request{}, verwerker.Errorf(verwerker.ECONFLICT, "the request takes no rectification now")
		}
		if err := s.records.Rectify(ctx, tenantID, cur.SubjectID, in.Corrections); err != nil {
			return Request{}, err
		}
		for _, c := range in.Corrections {
			in.RecordIDs = append(in.RecordIDs, c.RecordID)
		}
	}
	p, _ := verwerker.PrincipalFrom(ctx)
	in.By, in.At = p.ID, s.clock.Now().UTC()
	var r Request
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = lock(ctx, tx, tenantID, id); err != nil {
			return err
		}
		if !r.State.Open() || r.State == StateInProgress {
			return verwerker.Errorf(verwerker.ECONFLICT, "the request is %s: it takes no instruction now", strings.ReplaceAll(string(r.State), "_", " "))
		}
		if in.Action != ActionReject && r.SubjectID == "" {
			return verwerker.Errorf(verwerker.ECONFLICT, "the request matched no subject: verwerker holds nothing to act on; reject it with a reason or complete it yourself")
		}
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		now := in.At
		detail := "action=" + string(in.Action)
		switch in.Action {
		case ActionReject:
			r.State, r.RejectReason = StateRejected, in.Reason
			if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'rejected', reject_reason = $3, instruction = $4, paused_at = NULL,
					completed_at = $5, updated_at = $5 WHERE tenant_id = $1 AND id = $2`, tenantID, id, in.Reason, raw, now); err != nil {
				return err
			}
			if err := s.tellSubject(ctx, tx, tenantID, id, "rejected", in.Reason); err != nil {
				return err
			}
		case ActionRectify:
			r.State = StateCompleted
			detail += fmt.Sprintf(" records=%d", len(in.RecordIDs))
			if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'completed', instruction = $3, paused_at = NULL, completed_at = $4, updated_at = $4
				WHERE tenant_id = $1 AND id = $2`, tenantID, id, raw, now); err != nil {
				return err
			}
		case ActionRestrict, ActionLiftRestriction, ActionObject:
			cur, err := s.subjects.Current(ctx, tx, tenantID, r.SubjectID)
			if err != nil {
				return err
			}
			next := subject.Instruction{Restricted: cur.Restricted, ObjectedPurposes: cur.ObjectedPurposes}
			switch in.Action {
			case ActionRestrict:
				next.Restricted = true
			case ActionLiftRestriction:
				next.Restricted = false
			default:
				next.ObjectedPurposes = append(next.ObjectedPurposes, in.ObjectedPurposes...)
				detail += " purposes=" + strings.Join(in.ObjectedPurposes, ",")
			}
			if _, err := s.subjects.InstructByID(ctx, tx, tenantID, r.SubjectID, next); err != nil {
				return err
			}
			r.State = StateCompleted
			if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'completed', instruction = $3, paused_at = NULL, completed_at = $4, updated_at = $4
				WHERE tenant_id = $1 AND id = $2`, tenantID, id, raw, now); err != nil {
				return err
			}
		default:
			c, err := s.client()
			if err != nil {
				return err
			}
			r.State = StateInProgress
			if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'in_progress', instruction = $3, progress = 0, paused_at = NULL, updated_at = $4
				WHERE tenant_id = $1 AND id = $2`, tenantID, id, raw, now); err != nil {
				return err
			}
			if _, err := c.InsertTx(ctx, tx, ExecuteArgs{TenantID: tenantID, RequestID: id}, nil); err != nil {
				return err
			}
		}
		if err := s.step(ctx, tx, &r, in.By, "instruct", detail); err != nil {
			return err
		}
		r, err = lock(ctx, tx, tenantID, id)
		return err
	})
	return r, verwerker.Wrap("dsr: instruct", err)
}

// tellSubject e-mails the requester, if it left an address, about the
// outcome key ("rejected", "extended") of its request.
func (s *Service) tellSubject(ctx context.Context, tx pgx.Tx, tenantID, id, key string, args ...any) error {
	if s.outbox == nil || !s.outbox.Email() {
		return nil
	}
	c, lang, err := s.contactOf(ctx, tx, tenantID, id)
	if err != nil {
		return err
	}
	email := c.Email
	if email == "" {
		return nil
	}
	t, _, err := s.tenantOf(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	_, err = s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: tenantID, Kind: notify.KindEmail, EventType: EventSubject,
		IdempotencyKey: "dsr/" + id + "/subject/" + key + "/" + fmt.Sprint(s.clock.Now().UnixNano()), To: []string{email},
		Subject: subjectText(lang, key+"_subject", t.Name), Body: subjectText(lang, key+"_body", append([]any{t.Name, id}, args...)...)})
	return err
}

// Extend extends a request's deadline to months (1 or 2) further months
// with a reason that is passed to the subject (GDPR Art. 12(3)).
func (s *Service) Extend(ctx context.Context, tenantID, id string, months int, reason string) (Request, error) {
	var fields []verwerker.FieldError
	if months < 1 || months > MaxExtensionMonths {
		fields = append(fields, verwerker.FieldError{Field: "months", Message: "must be 1 or 2"})
	}
	if strings.TrimSpace(reason) == "" || len(reason) > MaxReason || !utf8.ValidString(reason) {
		fields = append(fields, verwerker.FieldError{Field: "reason", Message: fmt.Sprintf("is required: UTF-8 text of at most %d bytes", MaxReason)})
	}
	if len(fields) > 0 {
		return Request{}, verwerker.Invalid("the extension is not valid", fields...)
	}
	return s.change(ctx, tenantID, id, "extend", func(tx pgx.Tx, r *Request, cal calendarFn) (string, error) {
		if months <= r.ExtensionMonths {
			return "", verwerker.Errorf(verwerker.ECONFLICT, "the deadline is already extended by %d month(s)", r.ExtensionMonths)
		}
		d := due(cal(), r.ReceivedAt, months, r.PausedFor)
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET extension_months = $3, extension_reason = $4, due_last_day = $5, due_at = $6, reminders = '{}', updated_at = $7
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, months, reason, d.LastDay.String(), d.Due, s.clock.Now().UTC()); err != nil {
			return "", err
		}
		if err := s.tellSubject(ctx, tx, tenantID, id, "extended", months, reason); err != nil {
			return "", err
		}
		return fmt.Sprintf("months=%d due=%s", months, d.LastDay), nil
	})
}

// Pause stops a request's clock while waiting on the subject (for example
// for proof of identity).
func (s *Service) Pause(ctx context.Context, tenantID, id string) (Request, error) {
	return s.change(ctx, tenantID, id, "pause", func(tx pgx.Tx, r *Request, _ calendarFn) (string, error) {
		if r.PausedAt != nil || r.State == StateInProgress {
			return "", verwerker.Errorf(verwerker.ECONFLICT, "the request cannot be paused now")
		}
		_, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'waiting_on_subject', paused_at = $3, updated_at = $3 WHERE tenant_id = $1 AND id = $2`,
			tenantID, id, s.clock.Now().UTC())
		return "", err
	})
}

// Resume restarts a paused request's clock: its deadline shifts by the
// time it was paused (whole seconds), recorded on the request.
func (s *Service) Resume(ctx context.Context, tenantID, id string) (Request, error) {
	return s.change(ctx, tenantID, id, "resume", func(tx pgx.Tx, r *Request, cal calendarFn) (string, error) {
		if r.PausedAt == nil {
			return "", verwerker.Errorf(verwerker.ECONFLICT, "the request is not paused")
		}
		now := s.clock.Now().UTC()
		paused := r.PausedFor + now.Sub(*r.PausedAt).Truncate(time.Second)
		d := due(cal(), r.ReceivedAt, r.ExtensionMonths, paused)
		state := StateAwaitingInstruction
		if r.ForwardedAt == nil {
			state = StateForwarded
		}
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = $3, paused_at = NULL, paused_seconds = $4, due_last_day = $5, due_at = $6,
				reminders = '{}', updated_at = $7 WHERE tenant_id = $1 AND id = $2`,
			tenantID, id, string(state), int64(paused/time.Second), d.LastDay.String(), d.Due, now); err != nil {
			return "", err
		}
		return fmt.Sprintf("paused_seconds=%d due=%s", int64(paused/time.Second), d.LastDay), nil
	})
}

type calendarFn func() *deadline.Calendar

// change runs fn on an open request, locked, then records the step.
func (s *Service) change(ctx context.Context, tenantID, id, action string, fn func(tx pgx.Tx, r *Request, cal calendarFn) (string, error)) (Request, error) {
	var r Request
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = lock(ctx, tx, tenantID, id); err != nil {
			return err
		}
		if !r.State.Open() {
			return verwerker.Errorf(verwerker.ECONFLICT, "the request is %s", r.State)
		}
		_, cal, err := s.tenantOf(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		detail, err := fn(tx, &r, func() *deadline.Calendar { return cal })
		if err != nil {
			return err
		}
		if r, err = lock(ctx, tx, tenantID, id); err != nil {
			return err
		}
		return s.step(ctx, tx, &r, "", action, detail)
	})
	return r, verwerker.Wrap("dsr: "+action, err)
}
