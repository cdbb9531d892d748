package subject

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// InstructByID records the controller's instruction about the subject with
// the pseudonymous id subjectID inside the caller's transaction tx: what a
// data-subject request's restriction or objection instruction (package
// dsr) executes, which knows the subject by its id only. It replaces the
// previous instruction as Instruct does; ENOTFOUND for an unknown subject.
// Audited with the subject's id only.
func (s *Service) InstructByID(ctx context.Context, tx pgx.Tx, tenantID, subjectID string, in Instruction) (State, error) {
	purposes := slices.Clone(in.ObjectedPurposes)
	if purposes == nil {
		purposes = []string{}
	}
	slices.Sort(purposes)
	purposes = slices.Compact(purposes)
	st := State{ID: subjectID}
	err := tx.QueryRow(ctx, `UPDATE subjects SET restricted = $3, objected_purposes = $4, updated_at = $5
		WHERE tenant_id = $1 AND id = $2 RETURNING restricted, objected_purposes, updated_at`, tenantID, subjectID, in.Restricted, purposes, s.clock.Now().UTC()).
		Scan(&st.Restricted, &st.ObjectedPurposes, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, verwerker.Errorf(verwerker.ENOTFOUND, "no such subject")
	}
	if err != nil {
		return State{}, err
	}
	reason := fmt.Sprintf("restricted=%t objected=%s", st.Restricted, joinOr(st.ObjectedPurposes, "none"))
	return st, s.audit.Record(ctx, tx, tenantID, "subject.instruct", st.ID, reason)
}

// Current returns what is recorded about the subject with the id subjectID,
// inside tx; ENOTFOUND for an unknown subject.
func (s *Service) Current(ctx context.Context, tx pgx.Tx, tenantID, subjectID string) (State, error) {
	st := State{ID: subjectID}
	err := tx.QueryRow(ctx, `SELECT restricted, objected_purposes, updated_at FROM subjects WHERE tenant_id = $1 AND id = $2`, tenantID, subjectID).
		Scan(&st.Restricted, &st.ObjectedPurposes, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, verwerker.Errorf(verwerker.ENOTFOUND, "no such subject")
	}
	return st, err
}
