# Unit tests of the triage policy. `go test ./breach` runs them with OPA's
# tester package; `opa test breach/rego` runs them too.
package verwerker.breach_test

import data.verwerker.breach

codes(res) := {r.code | some r in res.reasons}

test_confidentiality_breach_is_notified if {
	res := breach.triage with input as {"actual": true, "personal_data": true, "kinds": ["confidentiality"]}
	res.outcome == "breach"
	res.notify
	codes(res) == {"actual_breach", "notify_controllers"}
}

test_availability_breach_is_a_breach if {
	res := breach.triage with input as {"actual": true, "personal_data": true, "kinds": ["availability", "integrity"]}
	res.outcome == "breach"
	some r in res.reasons
	r.code == "actual_breach"
	contains(r.explanation, "availability, integrity")
}

test_theoretical_vulnerability_is_not_notified if {
	res := breach.triage with input as {"actual": false, "personal_data": true, "kinds": ["confidentiality"]}
	res.outcome == "vulnerability"
	not res.notify
	codes(res) == {"theoretical"}
}

test_no_personal_data_is_not_a_breach if {
	res := breach.triage with input as {"actual": true, "personal_data": false, "kinds": ["availability"]}
	res.outcome == "vulnerability"
	codes(res) == {"no_personal_data"}
}

test_unknown_kind_is_not_a_breach if {
	res := breach.triage with input as {"actual": true, "personal_data": true, "kinds": ["reputation"]}
	res.outcome == "vulnerability"
	codes(res) == {"no_security_property"}
}

test_every_reason_cites_an_article if {
	res := breach.triage with input as {"actual": true, "personal_data": true, "kinds": ["confidentiality"]}
	every r in res.reasons {
		r.article != ""
	}
}
