package subprocessor

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/store"
)

func (r *Registry) tenantTx(ctx context.Context, op, tenantID string, fn func(tx pgx.Tx) error) error {
	if !verwerker.ValidID(verwerker.PrefixTenant, tenantID) {
		return errNoticeNotFound
	}
	return verwerker.Wrap("subprocessors: "+op, r.db.InTenantTx(ctx, tenantID, fn))
}

func lockNotice(ctx context.Context, tx pgx.Tx, tenantID, changeID string) (Notice, error) {
	n, err := scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices
		WHERE tenant_id = $1 AND change_id = $2 FOR UPDATE`, tenantID, changeID))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, errNoticeNotFound
	}
	return n, err
}

// Object records the customer's objection to a change, with its reason,
// while the window is open. From then on the change is held for the
// customer and the subprocessor it brings in is blocked for the customer's
// data (Blocks) until the DPO resolves the objection. The reason is the
// controller's text: shown to the DPO, never put in audit events or logs.
func (r *Registry) Object(ctx context.Context, tenantID, changeID, reason string) (Notice, error) {
	reason = strings.TrimSpace(reason)
	if fe := checkText("reason", reason, 4000, true); fe != nil {
		return Notice{}, verwerker.Invalid("the objection is not valid", *fe)
	}
	now := r.clock.Now().UTC()
	var n Notice
	err := r.tenantTx(ctx, "object", tenantID, func(tx pgx.Tx) error {
		cur, err := lockNotice(ctx, tx, tenantID, changeID)
		if err != nil {
			return err
		}
		switch {
		case cur.Status == NoticeObjected:
			return verwerker.Errorf(verwerker.ECONFLICT, "the customer has already objected to this change")
		case cur.Status != NoticePending:
			return verwerker.Errorf(verwerker.ECONFLICT, "the change is %s for this customer; there is nothing to object to", cur.Status)
		case cur.WindowEndsAt != nil && !now.Before(*cur.WindowEndsAt):
			// A customer not yet told may object already: its window has
			// not started.
			return verwerker.Errorf(verwerker.ECONFLICT, "the objection window ended")
		}
		n, err = scanNotice(tx.QueryRow(ctx, `UPDATE subprocessor_notices SET status = 'objected', objected_at = $3, objected_by = $4, objection_reason = $5
			WHERE tenant_id = $1 AND change_id = $2 RETURNING `+noticeColumns, tenantID, changeID, now, audit.Actor(ctx), reason))
		if err != nil {
			return err
		}
		if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, tenantID, "subprocessor.change.object", changeID, "")
	})
	return n, err
}

// Resolve closes a customer's open objection (the DPO's decision after
// talking to the customer). ResolutionObjectionWithdrawn puts the change
// back on course for the customer: it takes effect at its effective time,
// or at once if that has passed. ResolutionChangeNotApplied leaves the
// customer's list as it was. Either lifts the block.
func (r *Registry) Resolve(ctx context.Context, tenantID, changeID, resolution, note string) (Notice, error) {
	note = strings.TrimSpace(note)
	var fields []verwerker.FieldError
	if resolution != ResolutionObjectionWithdrawn && resolution != ResolutionChangeNotApplied {
		fields = append(fields, verwerker.FieldError{Field: "resolution", Message: "must be objection_withdrawn or change_not_applied"})
	}
	if fe := checkText("note", note, 4000, false); fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return Notice{}, verwerker.Invalid("the resolution is not valid", fields...)
	}
	now := r.clock.Now().UTC()
	var n Notice
	err := r.tenantTx(ctx, "resolve", tenantID, func(tx pgx.Tx) error {
		cur, err := lockNotice(ctx, tx, tenantID, changeID)
		if err != nil {
			return err
		}
		if cur.Status != NoticeObjected {
			return verwerker.Errorf(verwerker.ECONFLICT, "the customer has no open objection to this change")
		}
		status := NoticePending
		if resolution == ResolutionChangeNotApplied {
			status = NoticeNotApplied
		}
		n, err = scanNotice(tx.QueryRow(ctx, `UPDATE subprocessor_notices SET status = $3, resolved_at = $4, resolved_by = $5,
				resolution = $6, resolution_note = nullif($7, '')
			WHERE tenant_id = $1 AND change_id = $2 RETURNING `+noticeColumns, tenantID, changeID, status, now, audit.Actor(ctx), resolution, note))
		if err != nil {
			return err
		}
		if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, tenantID, "subprocessor.change.resolve", changeID, "resolution="+resolution)
	})
	if err == nil && n.Status == NoticePending {
		_, err = r.ApplyDue(ctx)
		if err == nil {
			n, err = r.Notice(ctx, tenantID, changeID)
		}
	}
	return n, err
}
