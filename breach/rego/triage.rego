# Triage of a security incident (GDPR Art. 4(12), 33; seed 001 art. 12.15-12.16).
#
# A personal data breach is a breach of security leading to the accidental
# or unlawful destruction, loss, alteration, unauthorised disclosure of, or
# access to, personal data. Only an actual breach is notified to the
# controllers; a theoretical vulnerability (nothing happened to personal
# data) is recorded but not notified. Every answer carries its reasons, each
# with the article or clause it rests on.
package verwerker.breach

# kinds are the security properties a breach touches (EDPB Guidelines 9/2022).
kinds := {"confidentiality", "integrity", "availability"}

affected contains k if {
	some k in input.kinds
	k in kinds
}

breach if {
	input.actual
	input.personal_data
	count(affected) > 0
}

reasons contains {"code": "actual_breach", "article": "GDPR 4(12)", "explanation": sprintf("An actual breach of %s of personal data occurred.", [concat(", ", sort([k | some k in affected]))])} if breach

reasons contains {"code": "notify_controllers", "article": "GDPR 33(2); seed 001 art. 12.15", "explanation": "Each affected controller is notified without delay, at the latest 48 hours after discovery."} if breach

reasons contains {"code": "theoretical", "article": "seed 001 art. 12.16", "explanation": "No personal data was actually affected: a vulnerability is recorded in the register but not notified."} if {
	not input.actual
}

reasons contains {"code": "no_personal_data", "article": "GDPR 4(12)", "explanation": "The incident did not involve personal data: it is not a personal data breach."} if {
	input.actual
	not input.personal_data
}

reasons contains {"code": "no_security_property", "article": "GDPR 4(12)", "explanation": "Neither confidentiality, integrity nor availability of personal data was breached."} if {
	input.actual
	input.personal_data
	count(affected) == 0
}

triage := {"outcome": "breach", "notify": true, "reasons": reasons} if breach

triage := {"outcome": "vulnerability", "notify": false, "reasons": reasons} if not breach
