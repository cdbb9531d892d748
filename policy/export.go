package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// DataDocument returns the data document an OPA server needs to answer the
// same questions as verwerker: the taxonomy at data.verwerker.taxonomy and
// every tenant's state at data.verwerker.tenants[<tenant id>]. A state is a
// snapshot: a terminating tenant's status says "terminating" in the
// document even after its contract ended, until the next export.
func DataDocument(tax Taxonomy, states []TenantState) map[string]any {
	tenants := make(map[string]any, len(states))
	for i := range states {
		st := states[i]
		if st.Subprocessors == nil {
			st.Subprocessors = []string{}
		}
		if st.Blocks == nil {
			st.Blocks = []Block{}
		}
		tenants[st.TenantID] = st
	}
	return map[string]any{"verwerker": map[string]any{"taxonomy": tax.Document(), "tenants": tenants}}
}

// WriteExport writes the decision policy (decision.rego) and the data
// document (data.json) into dir, so that `opa run -s dir` answers
// POST /v1/data/verwerker/decision/result with {"input": Request.Input(tenant)}
// exactly as verwerker does.
func WriteExport(dir string, tax Taxonomy, states []TenantState) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("policy: export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "decision.rego"), DecisionPolicy(), 0o644); err != nil {
		return fmt.Errorf("policy: export: %w", err)
	}
	b, err := json.Marshal(DataDocument(tax, states))
	if err != nil {
		return fmt.Errorf("policy: export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), b, 0o644); err != nil {
		return fmt.Errorf("policy: export: %w", err)
	}
	return nil
}
