package identity

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// keyRow is what a credential check reads about a key.
type keyRow struct {
	id, role, domain  string
	hash              []byte
	expiresAt         *time.Time
	revokedAt         *time.Time
	userID            *string
	disabled          *time.Time
	policy, decisionV int64
	found             bool
}

// lookup is one waiting credential check.
type lookup struct {
	prefix string
	done   chan struct{}
	row    keyRow
	err    error
}

// lookups batches the key lookups of concurrent requests ("smart
// batching"): a lookup that finds no query in flight is sent at once, alone,
// so a lone request waits for nothing; lookups arriving while a query is in
// flight go together in the next one. Every lookup's query starts after the
// lookup was asked for, so a key revoked before a request arrived is seen
// as revoked, exactly as with one query per request; under load the
// database answers one query for many requests.
type lookups struct {
	db interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
	mu       sync.Mutex
	pending  []*lookup
	inFlight bool
}

// maxLookupBatch bounds the prefixes of one query.
const maxLookupBatch = 256

const lookupSQL = `SELECT k.prefix, k.id, k.secret_hash, k.role, k.domain, k.expires_at, k.revoked_at, k.user_id, u.disabled_at,
		(SELECT version FROM authz_version), coalesce((SELECT version FROM decision_state WHERE tenant_id = k.domain), 0)
	FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.prefix = ANY($1)`

// get returns the row of the key with prefix.
func (l *lookups) get(ctx context.Context, prefix string) (keyRow, error) {
	w := &lookup{prefix: prefix, done: make(chan struct{})}
	l.mu.Lock()
	l.pending = append(l.pending, w)
	leader := !l.inFlight
	if leader {
		l.inFlight = true
	}
	l.mu.Unlock()
	if leader {
		l.run()
	}
	select {
	case <-w.done:
		return w.row, w.err
	case <-ctx.Done():
		return keyRow{}, ctx.Err()
	}
}

// run sends one query with the waiting lookups (the first of them is the
// caller's own, which found nothing in flight). Lookups that arrived in the
// meantime are sent by another goroutine, so the caller is answered without
// waiting for them.
func (l *lookups) run() {
	l.mu.Lock()
	batch := l.pending
	if len(batch) > maxLookupBatch {
		batch = batch[:maxLookupBatch]
	}
	l.pending = l.pending[len(batch):]
	l.mu.Unlock()
	l.query(batch)
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.inFlight = false
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	go l.run()
}

func (l *lookups) query(batch []*lookup) {
	// The query must not be cut short by one caller's context: it answers
	// the others too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefixes := make([]string, len(batch))
	for i, w := range batch {
		prefixes[i] = w.prefix
	}
	rows := map[string]keyRow{}
	res, err := l.db.Query(ctx, lookupSQL, prefixes)
	if err == nil {
		for res.Next() {
			var prefix string
			var r keyRow
			if err = res.Scan(&prefix, &r.id, &r.hash, &r.role, &r.domain, &r.expiresAt, &r.revokedAt, &r.userID, &r.disabled, &r.policy, &r.decisionV); err != nil {
				break
			}
			r.found = true
			rows[prefix] = r
		}
		res.Close()
		if err == nil {
			err = res.Err()
		}
	}
	for _, w := range batch {
		w.row, w.err = rows[w.prefix], err
		close(w.done)
	}
}
