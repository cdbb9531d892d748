package audit

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"time"

	"github.com/verwerker/verwerker"
)

// Outcome is how an audited action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failure Outcome = "failure"
)

// PlatformChain is the chain of events that belong to no tenant.
const PlatformChain = verwerker.PlatformDomain

// Event is one audit record.
type Event struct {
	// Chain is the tenant id, or PlatformChain.
	Chain string `json:"chain"`
	// Seq is the event's position in its chain, from 1.
	Seq int64 `json:"seq"`
	// ID is the event's id.
	ID string `json:"id"`
	// At is when it happened, to the microsecond, in UTC.
	At time.Time `json:"at"`
	// Actor is the principal id, or "system".
	Actor string `json:"actor"`
	// Action is what was attempted, e.g. "tenant.terminate".
	Action string `json:"action"`
	// Resource is the id of the object acted on.
	Resource string `json:"resource"`
	// Outcome is success, denied or failure.
	Outcome Outcome `json:"outcome"`
	// Reason explains a denial or failure with codes and ids, never personal data.
	Reason string `json:"reason"`
	// PrevHash is the previous event's hash (32 zero bytes for the first).
	PrevHash []byte `json:"prev_hash"`
	// Hash is SHA-256(PrevHash || Canonical()).
	Hash []byte `json:"hash"`
}

// Genesis is the PrevHash of the first event of every chain.
var Genesis = make([]byte, sha256.Size)

// Canonical returns the encoding the hash covers: the JSON object of the
// fields chain, seq, id, at, actor, action, resource, outcome and reason,
// keys sorted, no whitespace; at in RFC 3339 UTC with microseconds. Fields
// are restricted to printable ASCII without quotes or backslashes, so
// `jq -cS '{action,actor,at,chain,id,outcome,reason,resource,seq}'`
// reproduces it byte for byte.
func (e *Event) Canonical() []byte {
	var b strings.Builder
	field := func(k, v string, last bool) {
		b.WriteString(`"` + k + `":"` + v + `"`)
		if !last {
			b.WriteByte(',')
		}
	}
	b.WriteByte('{')
	field("action", e.Action, false)
	field("actor", e.Actor, false)
	field("at", e.At.UTC().Format(timeFormat), false)
	field("chain", e.Chain, false)
	field("id", e.ID, false)
	field("outcome", string(e.Outcome), false)
	field("reason", e.Reason, false)
	field("resource", e.Resource, false)
	b.WriteString(`"seq":` + strconv.FormatInt(e.Seq, 10) + `}`)
	return []byte(b.String())
}

// timeFormat is RFC 3339 with exactly six fractional digits.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// ComputeHash returns SHA-256(prev || canonical).
func ComputeHash(prev, canonical []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical)
	return h.Sum(nil)
}

// check enforces the field alphabet: printable ASCII without '"' or '\',
// at most 300 bytes. It keeps the canonical form trivial and makes it hard
// to smuggle free text (and personal data) into the trail.
func (e *Event) check() error {
	var fields []verwerker.FieldError
	for _, f := range []struct{ name, v string }{
		{"chain", e.Chain}, {"actor", e.Actor}, {"action", e.Action}, {"resource", e.Resource}, {"reason", e.Reason},
	} {
		if len(f.v) > 300 {
			fields = append(fields, verwerker.FieldError{Field: f.name, Message: "must be at most 300 bytes"})
			continue
		}
		for i := 0; i < len(f.v); i++ {
			if c := f.v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				fields = append(fields, verwerker.FieldError{Field: f.name, Message: "must be printable ASCII without quotes or backslashes"})
				break
			}
		}
	}
	if e.Chain == "" || e.Actor == "" || e.Action == "" {
		fields = append(fields, verwerker.FieldError{Field: "event", Message: "chain, actor and action are required"})
	}
	switch e.Outcome {
	case Success, Denied, Failure:
	default:
		fields = append(fields, verwerker.FieldError{Field: "outcome", Message: "must be success, denied or failure"})
	}
	if len(fields) > 0 {
		return verwerker.Invalid("audit event is not valid", fields...)
	}
	return nil
}

// Actor is the audit actor of ctx: the principal's id, or "system" for work
// no principal asked for.
func Actor(ctx context.Context) string {
	if p, ok := verwerker.PrincipalFrom(ctx); ok {
		return p.ID
	}
	return "system"
}
