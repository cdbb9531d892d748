package verwerker

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// ID prefixes name the kind of object an identifier points at, so that an id
// pasted in the wrong place is recognised at once.
const (
	PrefixTenant  = "tnt"
	PrefixAPIKey  = "key"
	PrefixUser    = "usr"
	PrefixSession = "ses"
	// PrefixAgreement names a version of a data processing agreement.
	PrefixAgreement = "dpa"
	// PrefixSubject names a data subject known by a pseudonymous reference.
	PrefixSubject = "sub"
	// PrefixDecision names a processing decision.
	PrefixDecision = "dec"
	// PrefixRecord names a stored (sealed) chat or admin record.
	PrefixRecord = "rec"
	// PrefixDeletionCertificate names a deletion certificate.
	PrefixDeletionCertificate = "del"
)

// crockford is the Crockford base32 alphabet used by ULIDs: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a new identifier "prefix_" followed by 26 characters: a
// 48-bit millisecond timestamp and 80 random bits in Crockford base32 (the
// ULID layout). Identifiers sort by creation time, which keeps keyset
// pagination stable, and carry no personal data.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	var out strings.Builder
	out.Grow(len(prefix) + 27)
	out.WriteString(prefix)
	out.WriteByte('_')
	// 128 bits as 26 base32 digits: the first digit holds the top 3 bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var digits [26]byte
	for i := 25; i >= 0; i-- {
		digits[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	out.Write(digits[:])
	return out.String()
}

// ValidID reports whether s has the form NewID(prefix, ...) produces.
func ValidID(prefix, s string) bool {
	if len(s) != len(prefix)+27 || !strings.HasPrefix(s, prefix) || s[len(prefix)] != '_' {
		return false
	}
	body := s[len(prefix)+1:]
	if body[0] > '7' { // only 3 bits in the first digit
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(crockford, body[i]) < 0 {
			return false
		}
	}
	return true
}
