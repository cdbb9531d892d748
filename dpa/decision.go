package dpa

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

// PolicyTaxonomy returns the taxonomy as the decision policy reads it.
func PolicyTaxonomy() policy.Taxonomy {
	var t policy.Taxonomy
	for _, c := range Categories {
		t.Categories = append(t.Categories, policy.TaxonomyCategory{ID: c.ID, Special: c.Special})
	}
	for _, p := range Purposes {
		t.Purposes = append(t.Purposes, p.ID)
	}
	for _, r := range Regions {
		t.Regions = append(t.Regions, policy.TaxonomyRegion{ID: r.ID, EEA: r.EEA, Adequacy: r.Adequacy})
	}
	return t
}

// PolicyState returns the scope of v as the decision policy reads it.
func (v *Version) PolicyState() *policy.DPAState {
	st := &policy.DPAState{Version: v.Number, ID: v.ID, Categories: map[string]policy.CategoryRule{},
		Purposes: append([]string{}, v.Scope.Purposes...), Regions: append([]string{}, v.Scope.Regions...), Transfers: map[string]string{}}
	if len(st.Regions) == 0 {
		st.Regions = []string{DefaultRegion}
	}
	for _, c := range v.Scope.Categories {
		st.Categories[c.ID] = policy.CategoryRule{Retention: c.Retention, Special: c.Special}
	}
	for _, t := range v.Scope.Transfers {
		st.Transfers[t.Region] = t.Basis
	}
	return st
}

// DecisionState reads everything decisions need about a tenant: its
// decision_state version first, then its contract status (at the service
// clock's now; a terminating tenant's state holds until its contract ends)
// and time zone,
// its active version, its effective subprocessors and its blocks, so the
// state is at least as new as the version. It is the decision engine's
// policy.LoadFunc.
func (s *Service) DecisionState(ctx context.Context, tenantID string) (policy.TenantState, error) {
	st := policy.TenantState{TenantID: tenantID}
	err := s.tx(ctx, "decision state", tenantID, func(tx pgx.Tx) error {
		var err error
		if st.Version, err = store.DecisionStateVersion(ctx, tx, tenantID); err != nil {
			return err
		}
		t, err := tenant.Read(ctx, tx, tenantID, s.clock.Now(), false)
		if err != nil {
			return err
		}
		st.Timezone, st.ContractEnd, st.Erased = t.Timezone, t.ContractEnd, t.ErasedAt != nil
		switch t.Status {
		case tenant.StatusActive:
			st.Status = policy.TenantActive
		case tenant.StatusTerminating:
			st.Status, st.Until = policy.TenantTerminating, *t.ContractEndsAt
		default:
			st.Status = policy.TenantEnded
		}
		v, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM dpa_versions WHERE tenant_id = $1 AND status = 'active'`, tenantID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			st.DPA = v.PolicyState()
		}
		if st.Subprocessors, err = s.subs.Effective(ctx, tx, tenantID); err != nil {
			return err
		}
		if st.Blocks, err = s.subs.Blocks(ctx, tx, tenantID); err != nil {
			return err
		}
		if st.Blocks == nil {
			st.Blocks = []policy.Block{}
		}
		return nil
	})
	if st.Subprocessors == nil {
		st.Subprocessors = []string{}
	}
	return st, err
}

// DecisionStates returns the decision state of every tenant, ordered by
// tenant id: the data document of `verwerker policy export`.
func (s *Service) DecisionStates(ctx context.Context) ([]policy.TenantState, error) {
	var ids []string
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		var err error
		ids, err = tenant.IDs(ctx, tx)
		return err
	})
	if err != nil {
		return nil, verwerker.Wrap("dpa: decision states", err)
	}
	out := make([]policy.TenantState, 0, len(ids))
	for _, id := range ids {
		st, err := s.DecisionState(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
