package retention

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/records"
)

// Triggers: the event a retention period runs from.
const (
	TriggerLastInteraction = "last_interaction"
	TriggerCreation        = "creation"
	TriggerContractEnd     = "contract_end"
	TriggerMinorFlag       = "minor_flag"
)

// ActionShredAndPurge: the subject's data key is destroyed once none of
// its records remains (crypto-shredding), and the rows are deleted.
const ActionShredAndPurge = "crypto_shred_and_purge"

// Sources of a rule.
const (
	SourceAgreement = "agreement"
	SourceLaw       = "law"
)

// Rule is one retention rule of a customer: for a data category (or "*"
// for every category, or a record kind), a trigger, a period and an
// action, with its legal ground.
type Rule struct {
	Category string
	// Kind limits the rule to one record kind (the statutory rule for
	// invoices), empty for every kind.
	Kind    string
	Code    string
	Trigger string
	Period  string
	Action  string
	Source  string
	// DPAVersion is the agreement version the rule comes from
	// (SourceAgreement).
	DPAVersion int
	Ground     string
	// Overrides says which shorter rule this one beats.
	Overrides string
}

// Rules lists the customer's retention rules: one per category of its
// active agreement, and the rules of law (fiscal records seven years, which
// beat a shorter contractual rule; minors' data within 24 hours; everything
// but statutory records 30 days after the contract's end).
func (s *Service) Rules(ctx context.Context, tenantID string) ([]Rule, error) {
	var out []Rule
	v, err := s.dpa.Active(ctx, tenantID)
	switch {
	case verwerker.ErrorCode(err) == verwerker.ENOTFOUND:
	case err != nil:
		return nil, verwerker.Wrap("retention: rules", err)
	default:
		for _, c := range v.Scope.Categories {
			r := Rule{Category: c.ID, Code: c.Retention, Action: ActionShredAndPurge, Source: SourceAgreement, DPAVersion: v.Number}
			switch c.Retention {
			case dpa.Retention30DaysAfterLastInteraction:
				r.Trigger, r.Period = TriggerLastInteraction, "30 days"
				r.Ground = fmt.Sprintf("Processing agreement v%d; company terms seed 000 art. 9.3: deleted within 30 days after the last interaction", v.Number)
			case dpa.RetentionStatutory7Years:
				r.Trigger, r.Period = TriggerCreation, records.StatutoryPeriod
				r.Ground = records.StatutoryGround + " (fiscal records); GDPR Art. 17(3)(b)"
			case dpa.RetentionContractEndPlus30Days:
				r.Trigger, r.Period = TriggerContractEnd, "30 days"
				r.Ground = fmt.Sprintf("Processing agreement v%d; seed 000 art. 3.4 and 8.3, GDPR Art. 28(3)(g): deleted within 30 days after the contract's end", v.Number)
			}
			out = append(out, r)
		}
	}
	out = append(out,
		Rule{Category: "*", Kind: records.KindInvoice, Code: dpa.RetentionStatutory7Years, Trigger: TriggerCreation, Period: records.StatutoryPeriod,
			Action: ActionShredAndPurge, Source: SourceLaw, Ground: records.StatutoryGround + " (invoices); GDPR Art. 17(3)(b)",
			Overrides: "any shorter contractual period: invoices are never deleted before seven years"},
		Rule{Category: "*", Code: "delete_asap", Trigger: TriggerMinorFlag, Period: decision.MinorDeletionPeriod.String(), Action: ActionShredAndPurge,
			Source: SourceLaw, Ground: "Company terms seed 000 art. 9.5: a suspected minor's data is deleted as soon as possible (except statutory records)"},
		Rule{Category: "*", Code: dpa.RetentionContractEndPlus30Days, Trigger: TriggerContractEnd, Period: "30 days", Action: ActionShredAndPurge,
			Source: SourceLaw, Ground: "GDPR Art. 28(3)(g); seed 000 art. 3.4 and 8.3; seed 004 art. 17.3: after the contract's last day everything but statutory records is deleted within 30 days (Regulation 1182/71), then the tenant key is destroyed"},
	)
	return out, nil
}
