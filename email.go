package verwerker

import (
	"net/mail"
	"strings"
)

// CheckEmail returns what is wrong with s as a contact e-mail address, or
// "" when it is a plain, fully qualified address of at most 254 bytes. The
// message never repeats the address.
func CheckEmail(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 254 {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "must be a plain e-mail address, without a display name"
	}
	if domain := s[strings.LastIndexByte(s, '@')+1:]; !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "must have a fully qualified domain"
	}
	return ""
}
