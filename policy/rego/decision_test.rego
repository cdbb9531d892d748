# Unit tests of the decision policy. `go test ./policy` runs them with OPA's
# tester package; `opa test policy/rego` runs them too.
package verwerker.decision_test

import data.verwerker.decision

taxonomy := {
	"categories": {
		"chat.message": {"special": false},
		"contact.email": {"special": false},
		"special.health": {"special": true},
	},
	"purposes": {"service.delivery": {}, "service.improvement": {}, "marketing": {}},
	"regions": {
		"eea": {"eea": true, "adequacy": false},
		"nl": {"eea": true, "adequacy": false},
		"de": {"eea": true, "adequacy": false},
		"us": {"eea": false, "adequacy": true},
		"in": {"eea": false, "adequacy": false},
	},
}

active := {
	"status": "active",
	"dpa": {
		"version": 3,
		
		"categories": {
			"chat.message": {"retention": "30d_after_last_interaction", "special": false},
			"contact.email": {"retention": "contract_end+30d", "special": false},
		},
		"purposes": ["service.delivery", "service.improvement"],
		"regions": ["eea", "us"],
		"transfers": {"us": "sccs"},
	},
	"subprocessors": ["hosting-eu"],
	"blocks": [],
}

ask(req, st) := res if {
	res := decision.result with input as object.union(req, {"state": st})
		with data.verwerker.taxonomy as taxonomy
}

codes(res) := {r.code | some r in res.reasons}

base := {"tenant_id": "tnt_test", "category": "chat.message", "purpose": "service.delivery", "region": "nl"}

test_in_scope_allows_with_obligations if {
	res := ask(base, active)
	res.allow
	codes(res) == {"in_scope"}
	res.retention == "30d_after_last_interaction"
	res.obligations == {"retention", "encrypt"}
	res.dpa_version == 3
	some r in res.reasons
	r.ref == "GDPR Art. 28(3)(a), 29; DPA v3 scope"
}

test_deny_by_default_without_state if {
	res := decision.result with input as base with data.verwerker.taxonomy as taxonomy
	not res.allow
	codes(res) == {"no_active_dpa"}
}

# A notice of termination is not the end: through the contract's last day
# the customer is processed as before (seed 000 art. 8.3).
test_terminating_decides_as_active if {
	terminating := object.union(active, {"status": "terminating"})
	res := ask(base, terminating)
	res.allow
	codes(res) == {"in_scope"}
	res.dpa_version == 3
	codes(ask(object.union(base, {"purpose": "marketing"}), terminating)) == {"purpose_not_in_scope"}
}

test_ended_denies_everything if {
	res := ask(base, object.union(active, {"status": "ended"}))
	not res.allow
	codes(res) == {"contract_terminated"}
	res.obligations == set()
	res.dpa_version == 0
}

# Deny by default: a status the policy does not know is no running contract.
test_unknown_status_denies if {
	codes(ask(base, object.union(active, {"status": "terminated"}))) == {"contract_terminated"}
	codes(ask(base, object.union(active, {"status": "Active"}))) == {"contract_terminated"}
}

test_erased_customer_denies_everything if {
	res := ask(base, object.union(active, {"status": "terminating", "erased": true}))
	not res.allow
	codes(res) == {"customer_data_erased"}
	res.dpa_version == 0
	codes(ask(base, object.union(active, {"status": "ended", "erased": true}))) == {"contract_terminated", "customer_data_erased"}
	ask(base, object.union(active, {"erased": false})).allow
}

test_no_active_dpa if {
	res := ask(base, object.remove(active, ["dpa"]))
	codes(res) == {"no_active_dpa"}
}

test_category_purpose_out_of_scope if {
	res := ask(object.union(base, {"category": "unknown.thing", "purpose": "marketing"}), active)
	not res.allow
	codes(res) == {"category_not_in_scope", "purpose_not_in_scope"}
}

test_special_category_needs_explicit_allowance if {
	codes(ask(object.union(base, {"category": "special.health"}), active)) == {"special_category_not_allowed"}
	codes(ask(object.union(base, {"special_category": "special.health"}), active)) == {"special_category_not_allowed"}
	allowed := json.patch(active, [{"op": "add", "path": "/dpa/categories/special.health", "value": {"retention": "30d_after_last_interaction", "special": true}}])
	ask(object.union(base, {"special_category": "special.health"}), allowed).allow
	ask(object.union(base, {"category": "special.health"}), allowed).allow
}

test_regions_and_transfers if {
	ask(object.union(base, {"region": "de"}), active).allow
	ask(object.union(base, {"region": "us"}), active).allow
	codes(ask(object.union(base, {"region": "in"}), active)) == {"transfer_basis_missing"}
	codes(ask(object.union(base, {"region": "mars"}), active)) == {"region_not_in_scope"}
	nl_only := json.patch(active, [{"op": "replace", "path": "/dpa/regions", "value": ["nl"]}])
	codes(ask(object.union(base, {"region": "de"}), nl_only)) == {"region_not_in_scope"}
	codes(ask(object.union(base, {"region": "us"}), nl_only)) == {"region_not_in_scope"}
}

test_minor_never_for_service_improvement if {
	res := ask(object.union(base, {"purpose": "service.improvement", "suspected_minor": true}), active)
	codes(res) == {"minor_service_improvement"}
	some r in res.reasons
	r.ref == "seed 000 art. 9.5"
}

test_minor_allowed_purposes_carry_obligations if {
	res := ask(object.union(base, {"suspected_minor": true}), active)
	res.allow
	res.obligations == {"retention", "encrypt", "delete_asap", "notify_controller"}
}

blocked := object.union(active, {"blocks": [{
	"subprocessor": "cdn-us",
	"change_id": "chg_1",
	"categories": ["chat.message"],
	"locations": ["eea"],
}]})

test_objection_blocks_covered_routes if {
	res := ask(base, blocked)
	codes(res) == {"subprocessor_objection"}
	some r in res.reasons
	r.ref == "GDPR Art. 28(2), 28(4); objection to change chg_1"
	ask(object.union(base, {"category": "contact.email"}), blocked).allow
	ask(object.union(base, {"region": "us"}), blocked).allow
	codes(ask(object.union(base, {"category": "contact.email", "subprocessor": "cdn-us"}), blocked)) == {"subprocessor_objection", "subprocessor_not_authorised"}
}

test_subprocessor_must_be_authorised if {
	ask(object.union(base, {"subprocessor": "hosting-eu"}), active).allow
	codes(ask(object.union(base, {"subprocessor": "elsewhere"}), active)) == {"subprocessor_not_authorised"}
}

test_subject_restriction_and_objection if {
	codes(ask(object.union(base, {"subject": {"restricted": true, "objected_purposes": []}}), active)) == {"subject_restricted"}
	objected := {"subject": {"restricted": false, "objected_purposes": ["service.delivery"]}}
	codes(ask(object.union(base, objected), active)) == {"subject_objected"}
	ask(object.union(object.union(base, {"purpose": "service.improvement"}), objected), active).allow
}

test_reasons_accumulate if {
	res := ask(object.union(base, {"purpose": "marketing", "region": "in", "subject": {"restricted": true, "objected_purposes": ["marketing"]}}), active)
	codes(res) == {"purpose_not_in_scope", "transfer_basis_missing", "subject_restricted", "subject_objected"}
}

test_opa_server_reads_state_from_data if {
	res := decision.result with input as base
		with data.verwerker.taxonomy as taxonomy
		with data.verwerker.tenants as {"tnt_test": active}
	res.allow
}
