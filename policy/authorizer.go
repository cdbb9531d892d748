package policy

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store"
)

//go:embed model.conf
var modelText string

// Model returns the Casbin model verwerker enforces (rbac_with_domains
// with platform-wide roles).
func Model() string { return modelText }

// Authorizer answers whether a principal holds a permission in a domain,
// from the Casbin policy in Postgres.
//
// Each load of the policy runs Casbin over it and compiles the answer into
// an immutable table (subject -> domain -> permission bits), so a decision
// costs two map lookups. The table is never trusted beyond its version:
// every authentication reads the current policy version from the database
// along with the credential, and a request carrying a newer version than the
// table reloads before it is decided. LISTEN/NOTIFY reloads ahead of time,
// so requests rarely wait. A revoked grant therefore stops working on the
// very next request on every replica.
type Authorizer struct {
	db      *store.DB
	adapter *Adapter
	logger  *slog.Logger

	mu  sync.Mutex // serialises loads
	cur atomic.Pointer[snapshot]
}

// NewAuthorizer makes the role definitions in the database equal to Grants
// and loads the policy.
func NewAuthorizer(ctx context.Context, db *store.DB, logger *slog.Logger) (*Authorizer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{db: db, adapter: NewAdapter(db), logger: logger}
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := syncRoles(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Version is the policy version the current table was compiled from.
func (a *Authorizer) Version() int64 { return a.cur.Load().version }

// Allowed reports whether p holds permission in domain. If p was
// authenticated against a newer policy than the loaded one, the policy is
// reloaded first.
func (a *Authorizer) Allowed(ctx context.Context, p verwerker.Principal, permission, domain string) (bool, error) {
	s, err := a.at(ctx, p)
	if err != nil {
		return false, err
	}
	return s.allowed(p.ID, permission, domain), nil
}

// Reaches reports whether p holds any permission at all in domain: a role
// in that tenant, or a platform role. A caller that does not reach a tenant
// must not learn whether it exists; one that does is told what it lacks.
func (a *Authorizer) Reaches(ctx context.Context, p verwerker.Principal, domain string) (bool, error) {
	s, err := a.at(ctx, p)
	if err != nil {
		return false, err
	}
	r := s.subjects[p.ID]
	return r != nil && (r.everywhere != 0 || r.domains[domain] != 0), nil
}

// at returns the loaded table, reloaded first if p was authenticated
// against a newer policy.
func (a *Authorizer) at(ctx context.Context, p verwerker.Principal) (*snapshot, error) {
	s := a.cur.Load()
	if p.PolicyVersion > s.version {
		if err := a.reloadTo(ctx, p.PolicyVersion); err != nil {
			return nil, err
		}
		s = a.cur.Load()
	}
	return s, nil
}

// Enforce asks Casbin itself, without the compiled table. It is the
// reference the table is tested against, and slower.
func (a *Authorizer) Enforce(subject, permission, domain string) (bool, error) {
	obj, act := splitPermission(permission)
	return a.cur.Load().enforcer.Enforce(subject, domain, obj, act)
}

// Reload loads the policy from the database now.
func (a *Authorizer) Reload(ctx context.Context) error { return a.reloadTo(ctx, 0) }

// reloadTo loads the policy unless a load that reached version min happened
// while waiting for the lock.
func (a *Authorizer) reloadTo(ctx context.Context, min int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur := a.cur.Load(); min > 0 && cur != nil && cur.version >= min {
		return nil
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return verwerker.Internal("policy: model", err)
	}
	version, err := a.adapter.load(ctx, m)
	if err != nil {
		return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "the access policy cannot be loaded now", Err: err}
	}
	s, err := compile(m, version)
	if err != nil {
		return verwerker.Internal("policy: compile", err)
	}
	a.cur.Store(s)
	return nil
}

// Listen reloads the policy whenever another transaction announces a
// change, until ctx ends. It reconnects after errors and reloads after
// every reconnect, so no announcement is lost for good.
func (a *Authorizer) Listen(ctx context.Context) {
	a.db.Listen(ctx, NotifyChannel, a.logger, a.Reload, a.notified)
}

// Watch registers the same reloads with a replica's watcher (instead of
// Listen): a change of the policy is loaded before the watcher
// acknowledges the change's barrier.
func (a *Authorizer) Watch(w *store.Watcher) {
	w.Handle(NotifyChannel, a.Reload, a.notified)
}

func (a *Authorizer) notified(ctx context.Context, payload string) error {
	v, _ := strconv.ParseInt(payload, 10, 64)
	if v > 0 && v <= a.Version() {
		return nil
	}
	return a.reloadTo(ctx, v)
}

// snapshot is one compiled version of the policy.
type snapshot struct {
	version  int64
	enforcer *casbin.Enforcer
	bits     map[string]uint64 // permission -> bit
	subjects map[string]*reach
}

// reach is what one subject may do: platform bits hold in every domain,
// tenant bits in their domain only.
type reach struct {
	everywhere uint64
	domains    map[string]uint64
}

func (s *snapshot) allowed(subject, permission, domain string) bool {
	bit := s.bits[permission]
	r := s.subjects[subject]
	if bit == 0 || r == nil {
		return false
	}
	return r.everywhere&bit != 0 || r.domains[domain]&bit != 0
}

// compile runs Casbin over the loaded model and tabulates its answers.
func compile(m model.Model, version int64) (*snapshot, error) {
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	if err := e.BuildRoleLinks(); err != nil {
		return nil, err
	}
	s := &snapshot{version: version, enforcer: e, bits: map[string]uint64{}, subjects: map[string]*reach{}}
	// Permissions of each role, split by scope.
	type rolePerms struct{ platform, tenant uint64 }
	roles := map[string]*rolePerms{}
	policies, err := e.GetPolicy()
	if err != nil {
		return nil, err
	}
	for _, p := range policies {
		if len(p) < 4 {
			continue
		}
		perm := p[2] + ":" + p[3]
		bit, ok := s.bits[perm]
		if !ok {
			if len(s.bits) == 64 {
				return nil, errors.New("more than 64 permissions")
			}
			bit = 1 << len(s.bits)
			s.bits[perm] = bit
		}
		rp := roles[p[0]]
		if rp == nil {
			rp = &rolePerms{}
			roles[p[0]] = rp
		}
		switch p[1] {
		case verwerker.PlatformDomain:
			rp.platform |= bit
		case "tenant":
			rp.tenant |= bit
		default:
			return nil, fmt.Errorf("role %s: unknown scope %q", p[0], p[1])
		}
	}
	groupings, err := e.GetGroupingPolicy()
	if err != nil {
		return nil, err
	}
	for _, g := range groupings {
		if len(g) < 3 {
			continue
		}
		sub, dom := g[0], g[2]
		held, err := e.GetImplicitRolesForUser(sub, dom)
		if err != nil {
			return nil, err
		}
		r := s.subjects[sub]
		if r == nil {
			r = &reach{domains: map[string]uint64{}}
			s.subjects[sub] = r
		}
		for _, role := range held {
			rp := roles[role]
			if rp == nil {
				continue
			}
			r.domains[dom] |= rp.tenant
			if dom == verwerker.PlatformDomain {
				r.everywhere |= rp.platform
			}
		}
	}
	return s, nil
}

func splitPermission(perm string) (obj, act string) {
	obj, act, _ = strings.Cut(perm, ":")
	return obj, act
}
