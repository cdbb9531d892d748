package api

import (
	"encoding/json"
	"testing"
)

// FuzzFastQuestion compares the decision fast path's parser with
// encoding/json and the operation's limits: whatever it accepts is a JSON
// object that encoding/json decodes into the operation's body to the very
// same question, within every maxLength, with the required fields present;
// and no input makes it panic. Seeds are in
// testdata/fuzz/FuzzFastQuestion.
func FuzzFastQuestion(f *testing.F) {
	for _, s := range []string{
		`{"tenant_id":"tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y","category":"chat.message","purpose":"service.delivery","region":"nl"}`,
		` { "tenant_id" : "t" , "category":"c","purpose":"p","region":"r","subject_ref":"v-1","suspected_minor":true,"subprocessor":"s","special_category":"x"} `,
		`{"tenant_id":"t","category":"c","purpose":"p","region":"r","suspected_minor":false}`,
		`{"tenant_id":"t","tenant_id":"u","category":"c","purpose":"p","region":"r"}`,
		`{"tenant_id":"t\u0041","category":"c","purpose":"p","region":"r"}`,
		`{"tenant_id":"t","category":"c","purpose":"p","region":"r","suspected_minor":truex}`,
		`{}`, `{`, `[]`, `{"tenant_id":null}`, "{\"tenant_id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var q fastQuestion
		if !q.parse(b) {
			return
		}
		var in decideInput
		if err := json.Unmarshal(b, &in.Body); err != nil {
			t.Fatalf("the fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("not an object: %q", b)
		}
		for _, k := range []string{"tenant_id", "category", "purpose", "region"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("accepted without %s: %q", k, b)
			}
		}
		for k, v := range raw {
			f, ok := fastFields[k]
			if !ok {
				t.Fatalf("accepted the unknown field %q: %q", k, b)
			}
			if f.limit > 0 {
				var s string
				if err := json.Unmarshal(v, &s); err != nil || len(s) > f.limit {
					t.Fatalf("field %s is not a string within %d bytes: %q", k, f.limit, b)
				}
			}
		}
		got := in.Body.DecisionItem
		if in.Body.TenantID != q.tenant || got.Category != q.req.Category || got.Purpose != q.req.Purpose || got.Region != q.req.Region ||
			got.Subprocessor != q.req.Subprocessor || got.SpecialCategory != q.req.SpecialCategory || got.SubjectRef != q.req.SubjectRef ||
			got.SuspectedMinor != q.req.SuspectedMinor {
			t.Fatalf("the fast path read %+v %+v, encoding/json %+v, from %q", q.tenant, q.req, in.Body, b)
		}
	})
}
