package subprocessor

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/tenant"
)

// Changes lists the changes, newest first.
func (r *Registry) Changes(ctx context.Context) ([]Change, error) {
	var out []Change
	err := r.platformTx(ctx, "changes", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+changeColumns+` FROM subprocessor_changes ORDER BY id DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Change, error) { return scanChange(row) })
		return err
	})
	return out, err
}

// Change returns a change with every customer's notice: the DPO's view of
// who was told, who objected and why, and where each stands.
func (r *Registry) Change(ctx context.Context, id string) (Change, []Notice, error) {
	var c Change
	var notices []Notice
	err := r.platformTx(ctx, "change", func(tx pgx.Tx) error {
		var err error
		c, err = scanChange(tx.QueryRow(ctx, `SELECT `+changeColumns+` FROM subprocessor_changes WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errChangeNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE change_id = $1 ORDER BY tenant_id`, id)
		if err != nil {
			return err
		}
		notices, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) { return scanNotice(row) })
		return err
	})
	return c, notices, err
}

// Objections lists the open objections of every customer, oldest first:
// what the DPO must resolve.
func (r *Registry) Objections(ctx context.Context) ([]Notice, error) {
	var out []Notice
	err := r.platformTx(ctx, "objections", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE status = 'objected' ORDER BY objected_at, tenant_id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) { return scanNotice(row) })
		return err
	})
	return out, err
}

// Notice returns the customer's notice of a change.
func (r *Registry) Notice(ctx context.Context, tenantID, changeID string) (Notice, error) {
	var n Notice
	err := r.tenantTx(ctx, "notice", tenantID, func(tx pgx.Tx) error {
		var err error
		n, err = scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE tenant_id = $1 AND change_id = $2`, tenantID, changeID))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoticeNotFound
		}
		return err
	})
	return n, err
}

// Listing is a customer's view of its subprocessors: who touches its data
// now, what is announced and where each announcement stands, and what is
// blocked.
type Listing struct {
	TenantID string `json:"tenant_id"`
	// Current are the subprocessors that touch the customer's data now.
	Current []Current `json:"current"`
	// Changes are the announced changes that concern the customer, newest
	// first, with their notice.
	Changes []TenantChange `json:"changes"`
	// Blocks are the open objections that block processing.
	Blocks []Block `json:"blocks"`
}

// Current is a subprocessor on a customer's effective list.
type Current struct {
	Entry
	Since time.Time `json:"since"`
}

// TenantChange is a change with the customer's notice of it.
type TenantChange struct {
	Change Change `json:"change"`
	Notice Notice `json:"notice"`
	// Subprocessor and Replaces describe the subprocessors involved.
	NewSubprocessor *Entry `json:"new_subprocessor,omitempty"`
	OldSubprocessor *Entry `json:"old_subprocessor,omitempty"`
}

// ForTenant returns the customer's listing. It is what the customer's
// privacy lead reads, what the public page shows and what the feed is made
// of (seed 000 art. 10.2).
func (r *Registry) ForTenant(ctx context.Context, tenantID string) (Listing, error) {
	l := Listing{TenantID: tenantID, Current: []Current{}, Changes: []TenantChange{}, Blocks: []Block{}}
	err := r.tenantTx(ctx, "listing", tenantID, func(tx pgx.Tx) error {
		if _, err := tenant.Read(ctx, tx, tenantID, r.clock.Now(), false); err != nil {
			return err // ENOTFOUND for an unknown customer
		}
		all := map[string]Entry{}
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM subprocessors`)
		if err != nil {
			return err
		}
		subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) { return scanEntry(row) })
		if err != nil {
			return err
		}
		for _, s := range subs {
			all[s.ID] = s
		}
		rows, err = tx.Query(ctx, `SELECT subprocessor_id, since FROM tenant_subprocessors WHERE tenant_id = $1 ORDER BY subprocessor_id`, tenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var since time.Time
			if err := rows.Scan(&id, &since); err != nil {
				rows.Close()
				return err
			}
			l.Current = append(l.Current, Current{Entry: all[id], Since: since.UTC()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// One query for the notices and their changes.
		rows, err = tx.Query(ctx, `SELECT `+noticeColumnsOf("n.")+`,
				c.id, c.kind, coalesce(c.subprocessor, ''), coalesce(c.replaces, ''), c.effective_on::text, c.description, c.status,
				c.created_at, c.created_by, c.withdrawn_at
			FROM subprocessor_notices n JOIN subprocessor_changes c ON c.id = n.change_id
			WHERE n.tenant_id = $1 ORDER BY c.created_at DESC, n.change_id DESC`, tenantID)
		if err != nil {
			return err
		}
		pairs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TenantChange, error) {
			var tc TenantChange
			n, c := &tc.Notice, &tc.Change
			err := row.Scan(append(noticeFields(n), &c.ID, &c.Kind, &c.Subprocessor, &c.Replaces, &c.EffectiveOn, &c.Description, &c.Status,
				&c.CreatedAt, &c.CreatedBy, &c.WithdrawnAt)...)
			n.normalize()
			c.CreatedAt = c.CreatedAt.UTC()
			return tc, err
		})
		if err != nil {
			return err
		}
		for _, tc := range pairs {
			c := tc.Change
			if s, ok := all[c.Subprocessor]; ok {
				tc.NewSubprocessor = &s
			}
			if s, ok := all[c.Replaces]; ok {
				tc.OldSubprocessor = &s
			}
			l.Changes = append(l.Changes, tc)
		}
		l.Blocks, err = Blocks(ctx, tx, tenantID)
		if l.Blocks == nil {
			l.Blocks = []Block{}
		}
		return err
	})
	sort.SliceStable(l.Current, func(i, j int) bool { return l.Current[i].ID < l.Current[j].ID })
	return l, err
}

// Blocks returns the customer's open blocks (see the package function
// Blocks), for the customer and the DPO.
func (r *Registry) Blocks(ctx context.Context, tenantID string) ([]Block, error) {
	out := []Block{}
	err := r.tenantTx(ctx, "blocks", tenantID, func(tx pgx.Tx) error {
		b, err := Blocks(ctx, tx, tenantID)
		if b != nil {
			out = b
		}
		return err
	})
	return out, err
}
