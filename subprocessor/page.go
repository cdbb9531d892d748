package subprocessor

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

// PublicPage is the address of a customer's public subprocessor page, its
// JSON and its Atom feed (seed 000 art. 10.2). It is named by an
// unguessable slug, never by the customer's id, so that nobody can walk from
// an id to a customer's name; the customer rotates the slug when it wants
// the old address to stop working.
type PublicPage struct {
	TenantID string
	// Slug is 128 random bits in lowercase base32 (26 characters).
	Slug      string
	CreatedAt time.Time
	// RotatedAt is when the slug last changed, nil before the first
	// rotation.
	RotatedAt *time.Time
}

// slugPattern is the form of every slug; anything else is not looked up.
var slugPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

var slugEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newSlug returns 128 random bits in lowercase base32.
func newSlug() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ToLower(slugEncoding.EncodeToString(b[:]))
}

var errPageNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "no such page")

const pageColumns = `tenant_id, slug, created_at, rotated_at`

func scanPage(row pgx.Row) (PublicPage, error) {
	var p PublicPage
	err := row.Scan(&p.TenantID, &p.Slug, &p.CreatedAt, &p.RotatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	if p.RotatedAt != nil {
		t := p.RotatedAt.UTC()
		p.RotatedAt = &t
	}
	return p, err
}

// PublicPage returns the address of the customer's public page, giving it
// one the first time it is asked for: until then the customer has no public
// page. ENOTFOUND for an unknown customer.
func (r *Registry) PublicPage(ctx context.Context, tenantID string) (PublicPage, error) {
	var p PublicPage
	err := r.tenantTx(ctx, "public page", tenantID, func(tx pgx.Tx) error {
		if _, err := tenant.Read(ctx, tx, tenantID, r.clock.Now(), false); err != nil {
			return err // ENOTFOUND for an unknown customer
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subprocessor_pages (tenant_id, slug, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id) DO NOTHING`, tenantID, newSlug(), r.clock.Now().UTC()); err != nil {
			return err
		}
		var err error
		p, err = scanPage(tx.QueryRow(ctx, `SELECT `+pageColumns+` FROM subprocessor_pages WHERE tenant_id = $1`, tenantID))
		return err
	})
	return p, err
}

// RotatePublicPage gives the customer's public page a new slug. The old
// one stops working at once (there is no grace period: rotating is what a
// customer does when the address must no longer work). Audited as
// "subprocessor.page.rotate" in the customer's chain, without either slug.
func (r *Registry) RotatePublicPage(ctx context.Context, tenantID string) (PublicPage, error) {
	if _, err := r.PublicPage(ctx, tenantID); err != nil {
		return PublicPage{}, err
	}
	var p PublicPage
	err := r.tenantTx(ctx, "rotate public page", tenantID, func(tx pgx.Tx) error {
		var err error
		p, err = scanPage(tx.QueryRow(ctx, `UPDATE subprocessor_pages SET slug = $2, rotated_at = $3 WHERE tenant_id = $1
			RETURNING `+pageColumns, tenantID, newSlug(), r.clock.Now().UTC()))
		if store.IsUniqueViolation(err, "subprocessor_pages_slug_key") {
			// 128 random bits collided: practically never; try again.
			return verwerker.Errorf(verwerker.EUNAVAILABLE, "try again")
		}
		if err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, tenantID, "subprocessor.page.rotate", tenantID, "")
	})
	return p, err
}

// PublicListingBySlug returns the public view of the subprocessors of the
// customer whose page slug names, or ENOTFOUND: for an unknown or rotated
// slug, and for anything that is not a slug (a customer's id included).
func (r *Registry) PublicListingBySlug(ctx context.Context, slug string) (Public, error) {
	if !slugPattern.MatchString(slug) {
		return Public{}, errPageNotFound
	}
	var tenantID string
	err := r.platformTx(ctx, "public page", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT tenant_id FROM subprocessor_pages WHERE slug = $1`, slug).Scan(&tenantID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errPageNotFound
		}
		return err
	})
	if err != nil {
		return Public{}, err
	}
	p, err := r.PublicListing(ctx, tenantID)
	if err != nil {
		return Public{}, err
	}
	p.Slug = slug
	return p, nil
}
