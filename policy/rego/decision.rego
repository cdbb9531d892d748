# METADATA
# title: verwerker processing decisions
# description: >-
#   Whether the chat service may store one piece of data: a data category
#   for a purpose in a region, for one customer (controller), decided from
#   the customer's active processing agreement (DPA) and live state. Deny by
#   default. GDPR Art. 28(3)(a) and 29 (only on documented instructions),
#   44-46 (transfers outside the EEA), 9 (special categories), 18
#   (restriction), 21 (objection), 28(2) and (4) (subprocessors); company
#   terms seed 000 art. 8.3 (processing through the contract's last day),
#   9.1, 9.5 and 10.2, seed 001 art. 12.2-12.3, 12.9
#   and 12.10.
package verwerker.decision

# The customer's state: in the input when verwerker evaluates in process,
# in the data document (verwerker policy export) when an OPA server answers.
state := input.state if input.state

state := data.verwerker.tenants[input.tenant_id] if not input.state

tax := data.verwerker.taxonomy

dpa := state.dpa

# running: the contract runs. A notice of termination is not its end:
# a terminating customer is processed as before through the contract's last
# day (seed 000 art. 8.3). Any other status (ended, unknown) denies.
running if state.status in {"active", "terminating"}

# ended: the state names any other status (ended, or one this policy does
# not know).
ended if {
	state.status
	not running
}

# open: the contract runs, the customer's data was not erased and an
# agreement is active, so the scope decides.
open if {
	running
	not state.erased
	state.dpa
}

default allow := false

allow if {
	open
	count(deny) == 0
}

# The answer verwerker and an OPA server give.
result := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
	"retention": retention,
	"dpa_version": dpa_version,
}

default dpa_version := 0

dpa_version := dpa.version if open

reasons contains reason("in_scope") if allow

reasons contains r if some r in deny

# Why processing is refused. Each reason names its legal ground.

deny contains reason("contract_terminated") if ended

deny contains reason("customer_data_erased") if state.erased

deny contains reason("no_active_dpa") if {
	not ended
	not state.erased
	not open
}

deny contains reason("category_not_in_scope") if {
	open
	not dpa.categories[input.category]
	not tax.categories[input.category].special
}

deny contains reason("special_category_not_allowed") if {
	open
	tax.categories[input.category].special
	not dpa.categories[input.category].special
}

deny contains reason("special_category_not_allowed") if {
	open
	input.special_category != ""
	not dpa.categories[input.special_category].special
}

deny contains reason("purpose_not_in_scope") if {
	open
	not purpose_in_scope
}

purpose_in_scope if input.purpose in dpa.purposes

deny contains reason("transfer_basis_missing") if {
	open
	transfer_missing
}

deny contains reason("region_not_in_scope") if {
	open
	not region_in_scope
	not transfer_missing
}

region_in_scope if input.region in dpa.regions

region_in_scope if {
	tax.regions[input.region].eea
	"eea" in dpa.regions
}

# A region outside the EEA needs a recorded transfer basis (GDPR Art. 44-46).
transfer_missing if {
	tax.regions[input.region]
	not tax.regions[input.region].eea
	not dpa.transfers[input.region]
}

deny contains reason("minor_service_improvement") if {
	open
	input.suspected_minor == true
	input.purpose == "service.improvement"
}

deny contains objection(b) if {
	open
	some b in state.blocks
	covers(b)
}

deny contains objection(b) if {
	open
	some b in state.blocks
	input.subprocessor == b.subprocessor
}

deny contains reason("subprocessor_not_authorised") if {
	open
	input.subprocessor != ""
	not input.subprocessor in state.subprocessors
}

deny contains reason("subject_restricted") if {
	open
	input.subject.restricted == true
}

deny contains reason("subject_objected") if {
	open
	input.purpose in input.subject.objected_purposes
}

# covers(b): the block closes the route of the input: the category through
# one of the block's locations (dpa.Block.Covers).
covers(b) if {
	input.category in b.categories
	input.region in b.locations
}

covers(b) if {
	input.category in b.categories
	tax.regions[input.region].eea
	"eea" in b.locations
}

covers(b) if {
	input.category in b.categories
	input.region == "eea"
	some l in b.locations
	tax.regions[l].eea
}

# What the chat service must do when storing.

default retention := ""

retention := dpa.categories[input.category].retention if allow

obligations contains "retention" if allow

obligations contains "encrypt" if allow

obligations contains "delete_asap" if {
	allow
	input.suspected_minor == true
}

obligations contains "notify_controller" if {
	allow
	input.suspected_minor == true
}

# Reasons: a machine code, the legal ground and a sentence.

reason(code) := {"code": code, "ref": ref(code), "message": messages[code]}

ref(code) := concat("; ", [legal[code], scope_ref]) if scoped[code]

ref(code) := legal[code] if not scoped[code]

scope_ref := concat("", ["DPA v", format_int(dpa.version, 10), " scope"])

# Reasons that cite the agreement's version as well.
scoped := {
	"in_scope", "category_not_in_scope", "purpose_not_in_scope", "region_not_in_scope",
	"transfer_basis_missing", "special_category_not_allowed",
}

legal := {
	"contract_terminated": "seed 000 art. 8.3; GDPR Art. 28(3)(g)",
	"customer_data_erased": "GDPR Art. 28(3)(g); seed 000 art. 8.3",
	"no_active_dpa": "GDPR Art. 28(3); seed 001 art. 12.2",
	"in_scope": "GDPR Art. 28(3)(a), 29",
	"category_not_in_scope": "GDPR Art. 28(3)(a), 29",
	"purpose_not_in_scope": "GDPR Art. 28(3)(a), 29; seed 001 art. 12.3",
	"region_not_in_scope": "seed 000 art. 9.1; seed 001 art. 12.9",
	"transfer_basis_missing": "GDPR Art. 44-46; seed 001 art. 12.9",
	"special_category_not_allowed": "GDPR Art. 9",
	"minor_service_improvement": "seed 000 art. 9.5",
	"subprocessor_not_authorised": "GDPR Art. 28(2); seed 001 art. 12.10",
	"subject_restricted": "GDPR Art. 18",
	"subject_objected": "GDPR Art. 21",
}

messages := {
	"contract_terminated": "The customer's contract has ended; no processing on its behalf is allowed.",
	"customer_data_erased": "The customer's data was erased on its instruction; nothing more is stored on its behalf.",
	"no_active_dpa": "The customer has no active processing agreement; no processing on its behalf is allowed.",
	"in_scope": "Data category, purpose and region are inside the customer's processing agreement.",
	"category_not_in_scope": "The data category is not in the scope of the customer's processing agreement.",
	"purpose_not_in_scope": "The purpose is not in the scope of the customer's processing agreement.",
	"region_not_in_scope": "The region is not in the scope of the customer's processing agreement.",
	"transfer_basis_missing": "The region is outside the EEA and the processing agreement records no transfer basis for it.",
	"special_category_not_allowed": "Special categories of personal data are processed only where the processing agreement explicitly allows them.",
	"minor_service_improvement": "Data recognised as a minor's is never used to improve the service.",
	"subprocessor_not_authorised": "The subprocessor is not on the customer's list of authorised subprocessors.",
	"subject_restricted": "The controller restricted the processing of this data subject's data.",
	"subject_objected": "The data subject objected to processing for this purpose.",
}

objection(b) := {
	"code": "subprocessor_objection",
	"ref": concat("", ["GDPR Art. 28(2), 28(4); objection to change ", b.change_id]),
	"message": concat("", [
		"The customer objected to subprocessor ", b.subprocessor, " (change ", b.change_id,
		"); processing on this route is blocked until the objection is resolved.",
	]),
}
