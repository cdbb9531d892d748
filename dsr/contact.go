package dsr

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
)

// Contact is what a requester told verwerker beside the right it
// exercises: its address and its own words. It is personal data and kept
// only sealed, with a data key of its own per request (or pending
// verification) wrapped by the tenant's key, as records are; it is opened
// only to send a message or to forward the request to the controller,
// never logged or audited.
type Contact struct {
	// Email is where the requester is told about its request.
	Email string `json:"email,omitempty"`
	// Details is anything else the controller should know.
	Details string `json:"details,omitempty"`
	// Incorrect and Correct are a rectification's particulars (GDPR Art.
	// 16): what is wrong, and the correct value.
	Incorrect string `json:"incorrect,omitempty"`
	Correct   string `json:"correct,omitempty"`
	// Grounds are an objection's grounds relating to the requester's
	// particular situation (GDPR Art. 21(1)).
	Grounds string `json:"grounds,omitempty"`
}

func (c Contact) empty() bool { return c == Contact{} }

// contactAAD binds a sealed contact to its tenant and row (a request's or
// a verification's id).
func contactAAD(tenantID, rowID string) keys.AAD {
	return keys.AAD{Tenant: tenantID, Subject: rowID, Kind: "dsr.contact"}
}

// sealedContact is a contact as stored: the wrapped data key and the
// sealed JSON.
type sealedContact struct {
	key    string
	sealed []byte
}

// seal seals c for the row rowID of tenantID with a new data key (the
// tenant's key is made on first use), or with the data key wrapped when
// given (re-sealing for another row).
func (s *Service) seal(ctx context.Context, tenantID, rowID string, c Contact, wrapped string) (sealedContact, error) {
	if s.opts.Keys == nil {
		return sealedContact{}, verwerker.Internal("dsr: contact", errors.New("no key manager (Options.Keys)"))
	}
	var k *keys.Key
	var err error
	if wrapped != "" {
		k, err = s.opts.Keys.Key(ctx, tenantID, []byte(wrapped))
	} else {
		if _, ok := s.keyed.Load(tenantID); !ok {
			if _, err := s.opts.Keys.CreateTenantKey(ctx, tenantID); err != nil {
				return sealedContact{}, err
			}
			s.keyed.Store(tenantID, true)
		}
		k, err = s.opts.Keys.NewDataKey(ctx, tenantID)
	}
	if err != nil {
		return sealedContact{}, err
	}
	defer k.Release()
	plain, err := json.Marshal(c)
	if err != nil {
		return sealedContact{}, err
	}
	sealed, err := k.Seal(contactAAD(tenantID, rowID), plain)
	clear(plain)
	if err != nil {
		return sealedContact{}, err
	}
	return sealedContact{key: string(k.Wrapped()), sealed: sealed}, nil
}

// unseal opens a sealed contact of the row rowID.
func (s *Service) unseal(ctx context.Context, tenantID, rowID string, sc sealedContact) (Contact, error) {
	var c Contact
	if sc.key == "" {
		return c, nil
	}
	if s.opts.Keys == nil {
		return c, verwerker.Internal("dsr: contact", errors.New("no key manager (Options.Keys)"))
	}
	k, err := s.opts.Keys.Key(ctx, tenantID, []byte(sc.key))
	if err != nil {
		return c, err
	}
	defer k.Release()
	plain, err := k.Open(contactAAD(tenantID, rowID), sc.sealed)
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(plain, &c)
	clear(plain)
	return c, err
}

// emailDigest is the stored stand-in of an address, for recognising the
// duplicate of an unmatched request.
func (s *Service) emailDigest(tenantID, email string) []byte {
	if email == "" {
		return nil
	}
	return s.subjects.Digest("dsr.email/"+tenantID, strings.ToLower(strings.TrimSpace(email)))
}

// contactOf reads and opens the contact of one of the tenant's requests in
// tx; a request written before contacts were sealed (migration 00046)
// still has its address in the clear.
func (s *Service) contactOf(ctx context.Context, tx pgx.Tx, tenantID, id string) (Contact, string, error) {
	var sc sealedContact
	var key *string
	var legacy Contact
	var lang string
	if err := tx.QueryRow(ctx, `SELECT contact_key, contact, email, details, language FROM dsr_requests WHERE tenant_id = $1 AND id = $2`, tenantID, id).
		Scan(&key, &sc.sealed, &legacy.Email, &legacy.Details, &lang); err != nil {
		return Contact{}, "", err
	}
	if key == nil {
		return legacy, lang, nil
	}
	sc.key = *key
	c, err := s.unseal(ctx, tenantID, id, sc)
	return c, lang, err
}

// SealLegacyContacts seals the clear addresses and details of requests
// written before contacts were sealed (migration 00046) and empties the
// clear columns; the periodic sweep runs it. It returns how many it sealed.
func (s *Service) SealLegacyContacts(ctx context.Context) (int, error) {
	type row struct {
		tenant, id string
		c          Contact
	}
	var rows []row
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rs, err := tx.Query(ctx, `SELECT tenant_id, id, email, details FROM dsr_requests WHERE contact_key IS NULL AND (email <> '' OR details <> '') LIMIT 1000`)
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.tenant, &x.id, &x.c.Email, &x.c.Details)
			return x, err
		})
		return err
	})
	if err != nil {
		return 0, verwerker.Wrap("dsr: seal contacts", err)
	}
	for i, x := range rows {
		sc, err := s.seal(ctx, x.tenant, x.id, x.c, "")
		if err != nil {
			return i, err
		}
		err = s.db.InTenantTx(ctx, x.tenant, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE dsr_requests SET contact_key = $3, contact = $4, email_digest = $5, email = '', details = ''
				WHERE tenant_id = $1 AND id = $2 AND contact_key IS NULL`, x.tenant, x.id, sc.key, sc.sealed, s.emailDigest(x.tenant, x.c.Email))
			return err
		})
		if err != nil {
			return i, verwerker.Wrap("dsr: seal contacts", err)
		}
	}
	return len(rows), nil
}
