package api

import (
	"strconv"
	"unicode/utf8"
)

// appendDecision appends r as Huma's JSON format writes it (encoding/json
// without HTML escaping, then a newline), without reflection: the fast
// path's answer. decisionjson_test.go compares both on many values.
func appendDecision(b []byte, r *DecisionResult) []byte {
	b = append(b, `{"decision_id":`...)
	b = appendJSONString(b, r.DecisionID)
	b = append(b, `,"allow":`...)
	b = strconv.AppendBool(b, r.Allow)
	b = append(b, `,"reasons":`...)
	if r.Reasons == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			x := &r.Reasons[i]
			b = append(b, `{"code":`...)
			b = appendJSONString(b, x.Code)
			b = append(b, `,"ref":`...)
			b = appendJSONString(b, x.Ref)
			b = append(b, `,"message":`...)
			b = appendJSONString(b, x.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if o := r.Obligations; o != nil {
		b = append(b, `,"obligations":{"retention":`...)
		b = appendJSONString(b, o.Retention)
		b = append(b, `,"deletion_deadline":`...)
		if o.DeletionDeadline == nil {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, o.DeletionDeadline.String())
		}
		if o.DeletionDue != nil {
			due, err := o.DeletionDue.MarshalJSON()
			if err != nil {
				return nil
			}
			b = append(b, `,"deletion_due":`...)
			b = append(b, due...)
		}
		b = append(b, `,"key_ref":`...)
		b = appendJSONString(b, o.KeyRef)
		b = append(b, `,"actions":`...)
		if o.Actions == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, a := range o.Actions {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, a)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `,"dpa_version":`...)
	b = strconv.AppendInt(b, int64(r.DPAVersion), 10)
	if r.DPAVersionID != "" {
		b = append(b, `,"dpa_version_id":`...)
		b = appendJSONString(b, r.DPAVersionID)
	}
	if r.SubjectID != "" {
		b = append(b, `,"subject_id":`...)
		b = appendJSONString(b, r.SubjectID)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string exactly as encoding/json does
// without HTML escaping: \" \\ \b \f \n \r \t, other control characters as
// \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
