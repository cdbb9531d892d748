package web

import (
	"net/http"
	"strconv"

	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// An agreement version: the exact text offered (in the viewer's language),
// its hash and the acceptance record.

type agreementData struct {
	Version dpa.Version
	Text    string
	SHA256  string
}

func (s *Server) agreementPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/agreements/{number}", Permission: policy.PermDPARead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			id := r.PathValue("tenant_id")
			n, err := strconv.Atoi(r.PathValue("number"))
			if err != nil || n < 1 || n > 1_000_000 {
				s.renderError(w, r, v, http.StatusNotFound)
				return nil
			}
			ver, err := s.deps.DPA.Get(ctx, id, n)
			if err != nil {
				return err
			}
			lang := dpa.LangEN
			if v.Lang == "nl" {
				lang = dpa.LangNL
			}
			doc, sum, err := s.deps.DPA.Document(ctx, id, n, lang)
			if err != nil {
				return err
			}
			v.Title = ver.ControllerName + " v" + strconv.Itoa(n)
			v.Data = agreementData{Version: ver, Text: string(doc), SHA256: sum}
			s.render(w, v, http.StatusOK, "agreement")
			return nil
		}}
}
