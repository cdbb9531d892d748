package identity

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/verwerker/verwerker"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of password hashing with argon2id.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 follows the OWASP recommendation for argon2id (19 MiB,
// two passes, one lane).
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Password length limits (NIST SP 800-63B: at least 8, long passphrases
// allowed; verwerker asks for 12 because these accounts reach personal data).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

func checkPasswordPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return verwerker.Invalid("the password is not acceptable",
			verwerker.FieldError{Field: "password", Message: fmt.Sprintf("must be %d to %d characters", MinPasswordLen, MaxPasswordLen)})
	}
	return nil
}

// hashPassword returns the PHC string of pw under a fresh salt:
// $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func hashPassword(pw string, p Argon2Params) string {
	salt := randomBytes(16)
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

// checkPassword reports whether pw matches the PHC string encoded. A
// malformed string never matches.
func checkPassword(pw, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Threads == 0 || p.Time == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
