package dpa

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// Subprocessors is what the agreements need of the subprocessor registry,
// inside their own transactions: package subprocessor keeps the registry
// and implements it (subprocessor.Lists). It is an interface because the
// registry reads the agreements' scopes and taxonomy, so dpa cannot import
// it.
type Subprocessors interface {
	// Registered returns those of ids that are in the registry.
	Registered(ctx context.Context, tx pgx.Tx, ids []string) ([]string, error)
	// Authorise makes ids, the subprocessors authorised by the agreement
	// version versionID being activated, the customer's effective list.
	Authorise(ctx context.Context, tx pgx.Tx, tenantID, versionID string, ids []string, now time.Time) error
	// Effective returns the ids of the subprocessors that touch the
	// customer's data now, sorted.
	Effective(ctx context.Context, tx pgx.Tx, tenantID string) ([]string, error)
	// Details returns the registry entries of Effective, sorted by id.
	Details(ctx context.Context, tx pgx.Tx, tenantID string) ([]SubprocessorEntry, error)
	// Blocks returns the customer's open objections that block processing
	// through a subprocessor, oldest first.
	Blocks(ctx context.Context, tx pgx.Tx, tenantID string) ([]policy.Block, error)
}

// SubprocessorEntry is a subprocessor's registry entry as the record of
// processing lists it (GDPR Art. 30(2)(c) with 28(2)); see
// subprocessor.Entry for the meaning of each field.
type SubprocessorEntry struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Service           string    `json:"service"`
	Locations         []string  `json:"locations"`
	TransferMechanism string    `json:"transfer_mechanism"`
	Categories        []string  `json:"categories"`
	ContractDate      string    `json:"contract_date"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// checkRegistered reports, as field errors, the ids that are not in the
// subprocessor registry.
func (s *Service) checkRegistered(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	known, err := s.subs.Registered(ctx, tx, ids)
	if err != nil {
		return err
	}
	var fields []verwerker.FieldError
	for i, id := range ids {
		if !slices.Contains(known, id) {
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("subprocessors[%d]", i), Message: "is not in the subprocessor registry"})
		}
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the processing agreement's scope is not valid", fields...)
	}
	return nil
}

// ActiveScopes returns the scope of every customer's active version, by
// tenant id: what the subprocessor registry reads to know whom a change
// concerns, their objection windows and contacts. tx must be scoped to the
// platform.
func ActiveScopes(ctx context.Context, tx pgx.Tx) (map[string]Scope, error) {
	rows, err := tx.Query(ctx, `SELECT tenant_id, scope FROM dpa_versions WHERE status = 'active'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Scope{}
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		var sc Scope
		if err := json.Unmarshal(raw, &sc); err != nil {
			return nil, err
		}
		out[id] = sc
	}
	return out, rows.Err()
}
