package breach

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/records"
)

// Impact is what an incident touched, counted from the records store.
type Impact struct {
	// ComputedAt is when it was counted.
	ComputedAt time.Time `json:"computed_at"`
	// From and To bound the window: records created in [From, To) count.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Estimated says the counts are bounds rather than the incident's
	// exact effect, and Basis why: the start is unknown (every record
	// before the end counts), the incident is ongoing (counted up to
	// ComputedAt), or a customer named in the report has no records in the
	// window ("named_without_records": its numbers are to follow).
	Estimated bool     `json:"estimated"`
	Basis     []string `json:"basis"`
	// Customers are the affected customers, in tenant id order.
	Customers []CustomerImpact `json:"customers"`
	// Subjects and Records are the totals over every customer.
	Subjects int64 `json:"subjects"`
	Records  int64 `json:"records"`
}

// CustomerImpact is what an incident touched of one customer's data.
type CustomerImpact struct {
	TenantID string `json:"tenant_id"`
	// Subjects and Records are exact counts of the window: distinct data
	// subjects and records.
	Subjects int64 `json:"subjects"`
	Records  int64 `json:"records"`
	// Categories break them down by data category.
	Categories []CategoryCount `json:"categories"`
	// Encryption says how the records were protected (GDPR Art.
	// 34(3)(a)).
	Encryption Encryption `json:"encryption"`
}

// CategoryCount counts the subjects and records of one data category.
type CategoryCount struct {
	Category string `json:"category"`
	Subjects int64  `json:"subjects"`
	Records  int64  `json:"records"`
}

// Encryption describes how a customer's records were encrypted at rest.
type Encryption struct {
	// Encrypted is true for every record: each is sealed with AES-256-GCM
	// under its subject's data key, wrapped by the customer's key.
	Encrypted bool   `json:"encrypted"`
	Algorithm string `json:"algorithm"`
	// Keyring is "vault-transit" or "local"; KeyName the customer's key.
	Keyring string `json:"keyring,omitempty"`
	KeyName string `json:"key_name,omitempty"`
	// KeyVersions are the versions of the customer's key that wrap the data
	// keys of its subjects now (those of the affected subjects are among
	// them).
	KeyVersions []int `json:"key_versions"`
	// LatestVersion and MinDecryptionVersion are the key's state now.
	LatestVersion        int `json:"latest_version,omitempty"`
	MinDecryptionVersion int `json:"min_decryption_version,omitempty"`
	// Shredded says the customer's key was destroyed: its records are
	// unintelligible to anyone.
	Shredded bool `json:"shredded"`
}

// Scope is the question an impact answers: which records, in which window.
type Scope struct {
	Systems, Categories, Regions, Tenants []string
	From, To                              time.Time
}

// Count counts what scope sc touches in the records store, in tx (a
// platform-scope transaction): per customer and category, distinct
// subjects and records created in [From, To), exact. The records store
// counts them (records.CountWindow: one index-only scan of the window).
func Count(ctx context.Context, tx pgx.Tx, sc Scope) ([]CustomerImpact, error) {
	kinds := []string{}
	for _, sys := range sc.Systems {
		kinds = append(kinds, sys+".%")
	}
	counts, err := records.CountWindow(ctx, tx, records.Window{Kinds: kinds, Categories: sc.Categories, Regions: sc.Regions,
		Tenants: sc.Tenants, From: sc.From, To: sc.To})
	if err != nil {
		return nil, err
	}
	byTenant := map[string]*CustomerImpact{}
	for _, n := range counts {
		c := byTenant[n.TenantID]
		if c == nil {
			c = &CustomerImpact{TenantID: n.TenantID, Categories: []CategoryCount{}}
			byTenant[n.TenantID] = c
		}
		if n.Category == "" {
			c.Subjects, c.Records = n.Subjects, n.Records
		} else {
			c.Categories = append(c.Categories, CategoryCount{Category: n.Category, Subjects: n.Subjects, Records: n.Records})
		}
	}
	out := make([]CustomerImpact, 0, len(byTenant))
	for _, c := range byTenant {
		slices.SortFunc(c.Categories, func(a, b CategoryCount) int { return strings.Compare(a.Category, b.Category) })
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b CustomerImpact) int { return strings.Compare(a.TenantID, b.TenantID) })
	return out, nil
}

// encryption fills in the encryption of each customer's records: its key
// and the key versions wrapping its subjects' data keys.
func encryption(ctx context.Context, tx pgx.Tx, customers []CustomerImpact) error {
	if len(customers) == 0 {
		return nil
	}
	ids := make([]string, len(customers))
	for i, c := range customers {
		ids[i] = c.TenantID
		customers[i].Encryption = Encryption{Encrypted: true, Algorithm: "AES-256-GCM", KeyVersions: []int{}}
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, keyring, coalesce(key_name, ''), latest_version, min_decryption_version, shredded_at IS NOT NULL
		FROM tenant_keys WHERE tenant_id = ANY ($1)`, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var e Encryption
		if err := rows.Scan(&id, &e.Keyring, &e.KeyName, &e.LatestVersion, &e.MinDecryptionVersion, &e.Shredded); err != nil {
			rows.Close()
			return err
		}
		i := slices.IndexFunc(customers, func(c CustomerImpact) bool { return c.TenantID == id })
		e.Encrypted, e.Algorithm, e.KeyVersions = true, "AES-256-GCM", []int{}
		customers[i].Encryption = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT DISTINCT tenant_id, key_version FROM subject_keys WHERE tenant_id = ANY ($1)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	at := make(map[string]int, len(customers))
	for i, c := range customers {
		at[c.TenantID] = i
	}
	for rows.Next() {
		var id string
		var version int
		if err := rows.Scan(&id, &version); err != nil {
			return err
		}
		e := &customers[at[id]].Encryption
		e.KeyVersions = append(e.KeyVersions, version)
	}
	for i := range customers {
		slices.Sort(customers[i].Encryption.KeyVersions)
	}
	return rows.Err()
}

// window returns the scope of incident i at now and why its counts are
// estimates, if they are.
func window(i Incident, now time.Time) (Scope, []string) {
	sc := Scope{Systems: i.Systems, Categories: i.Categories, Regions: i.Regions, Tenants: i.Tenants}
	var basis []string
	if i.StartedAt != nil {
		sc.From = *i.StartedAt
	} else {
		sc.From = time.Unix(0, 0).UTC()
		basis = append(basis, "start_unknown")
	}
	if i.EndedAt != nil {
		sc.To = i.EndedAt.Add(time.Second) // the end's second counts
	} else {
		sc.To = now
		basis = append(basis, "ongoing")
	}
	return sc, basis
}

// Scope counts the impact of an incident from the records store and keeps
// it on the incident (and in its history). Counts are exact for the
// window; when the start is unknown or the incident is ongoing they are
// flagged as estimates with the basis.
func (s *Service) Scope(ctx context.Context, id string) (Incident, error) {
	now := s.clock.Now().UTC()
	var out Incident
	err := s.tx(ctx, "impact", func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		imp, err := impactOf(ctx, tx, cur, now)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(imp)
		if err != nil {
			return err
		}
		out, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET impact = $2, updated_at = $3 WHERE id = $1 RETURNING `+incidentColumns, id, raw, now))
		if err != nil {
			return err
		}
		return s.revise(ctx, tx, out, now, "impact", "", map[string]any{"customers": len(imp.Customers), "subjects": imp.Subjects,
			"records": imp.Records, "estimated": imp.Estimated})
	})
	return out, err
}

func impactOf(ctx context.Context, tx pgx.Tx, i Incident, now time.Time) (Impact, error) {
	sc, basis := window(i, now)
	customers, err := Count(ctx, tx, sc)
	if err != nil {
		return Impact{}, err
	}
	if err := encryption(ctx, tx, customers); err != nil {
		return Impact{}, err
	}
	// Customers named in the report are affected even without records in
	// the window (data outside the records store: logs, backups): their
	// numbers are to follow.
	named := false
	for _, t := range i.Tenants {
		if !slices.ContainsFunc(customers, func(c CustomerImpact) bool { return c.TenantID == t }) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, t).Scan(&exists); err != nil {
				return Impact{}, err
			}
			if exists {
				customers = append(customers, CustomerImpact{TenantID: t, Categories: []CategoryCount{}})
				named = true
			}
		}
	}
	if named {
		slices.SortFunc(customers, func(a, b CustomerImpact) int { return strings.Compare(a.TenantID, b.TenantID) })
		if err := encryption(ctx, tx, customers); err != nil {
			return Impact{}, err
		}
		basis = append(basis, "named_without_records")
	}
	if customers == nil {
		customers = []CustomerImpact{}
	}
	if basis == nil {
		basis = []string{}
	}
	imp := Impact{ComputedAt: now, From: sc.From, To: sc.To, Estimated: len(basis) > 0, Basis: basis, Customers: customers}
	for _, c := range customers {
		imp.Subjects += c.Subjects
		imp.Records += c.Records
	}
	return imp, nil
}

var errNotBreach = verwerker.Errorf(verwerker.ECONFLICT, "the incident is not triaged as a breach: only breaches are notified")
