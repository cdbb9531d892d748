package web

import (
	"net/http"

	"github.com/verwerker/verwerker/policy"
)

// A customer's erasure certificates (GDPR Art. 17, 28(3)(g)): what was
// erased, how many records, and the audit event that proves it.

func (s *Server) certificatesPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/certificates", Permission: policy.PermCertificateRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			id := r.PathValue("tenant_id")
			list, err := s.deps.Records.Certificates(r.Context(), id, "", 200)
			if err != nil {
				return err
			}
			v.Title = translate(v.Lang, "certificates.title")
			v.Data = struct {
				TenantID string
				Items    any
			}{id, list}
			s.render(w, v, http.StatusOK, "certificates")
			return nil
		}}
}
