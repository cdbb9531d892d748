package api

import (
	"strconv"

	"github.com/verwerker/verwerker/internal/jsonstr"
)

// appendDecision appends r as Huma's JSON format writes it (encoding/json
// without HTML escaping, then a newline), without reflection: the fast
// path's answer. decisionjson_test.go compares both on many values.
func appendDecision(b []byte, r *DecisionResult) []byte {
	b = append(b, `{"decision_id":`...)
	b = jsonstr.Append(b, r.DecisionID)
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
			b = jsonstr.Append(b, x.Code)
			b = append(b, `,"ref":`...)
			b = jsonstr.Append(b, x.Ref)
			b = append(b, `,"message":`...)
			b = jsonstr.Append(b, x.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if o := r.Obligations; o != nil {
		b = append(b, `,"obligations":{"retention":`...)
		b = jsonstr.Append(b, o.Retention)
		b = append(b, `,"deletion_deadline":`...)
		if o.DeletionDeadline == nil {
			b = append(b, "null"...)
		} else {
			b = jsonstr.Append(b, o.DeletionDeadline.String())
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
		b = jsonstr.Append(b, o.KeyRef)
		b = append(b, `,"actions":`...)
		if o.Actions == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, a := range o.Actions {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonstr.Append(b, a)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `,"dpa_version":`...)
	b = strconv.AppendInt(b, int64(r.DPAVersion), 10)
	if r.DPAVersionID != "" {
		b = append(b, `,"dpa_version_id":`...)
		b = jsonstr.Append(b, r.DPAVersionID)
	}
	if r.SubjectID != "" {
		b = append(b, `,"subject_id":`...)
		b = jsonstr.Append(b, r.SubjectID)
	}
	return append(b, "}\n"...)
}
