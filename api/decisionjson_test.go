package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
)

// TestAppendDecisionIsEncodingJSON compares the fast path's encoder with
// Huma's (encoding/json without HTML escaping) on random decisions with
// awkward strings.
func TestAppendDecisionIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	pieces := []string{"", "a", "dec_01KJPWD6M2WWWCMXWQDYWZV8W6", "customer's", `"quoted"`, `back\slash`, "<html>&", "tab\there", "line\nbreak",
		"\b\f\r", "\x00\x01\x1f\x7f", "é ü ß", "日本", "\u2028\u2029", "\xff\xfe", "a\xc3", "GDPR Art. 28(3)(a), 29; DPA v1 scope"}
	str := func() string {
		s := ""
		for range r.IntN(4) {
			s += pieces[r.IntN(len(pieces))]
		}
		return s
	}
	for range 5000 {
		d := DecisionResult{DecisionID: str(), Allow: r.IntN(2) == 0, DPAVersion: r.IntN(1000) - 5, DPAVersionID: str(), SubjectID: str()}
		if r.IntN(10) > 0 {
			d.Reasons = make([]DecisionReason, r.IntN(3))
			for i := range d.Reasons {
				d.Reasons[i] = DecisionReason{Code: str(), Ref: str(), Message: str()}
			}
		}
		if r.IntN(2) == 0 {
			o := &DecisionObligations{Retention: str(), KeyRef: str()}
			if r.IntN(4) > 0 {
				o.Actions = []string{}
				for range r.IntN(4) {
					o.Actions = append(o.Actions, str())
				}
			}
			if r.IntN(3) > 0 {
				day := deadline.Date{Year: 1990 + r.IntN(100), Month: time.Month(1 + r.IntN(12)), Day: 1 + r.IntN(28)}
				due := time.Date(day.Year, day.Month, day.Day+1, 0, 0, 0, r.IntN(3)*1000, time.FixedZone("", (r.IntN(25)-12)*3600))
				o.DeletionDeadline, o.DeletionDue = &day, &due
			}
			d.Obligations = o
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(d))
		require.Equal(t, want.String(), string(appendDecision(nil, &d)))
	}
}
