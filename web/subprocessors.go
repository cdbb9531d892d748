package web

import (
	"net/http"

	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
)

// The subprocessors page: the registry, the changes, and the customers'
// open objections with the DPO's resolve action (GDPR Art. 28(2)/(4)).

type subprocessorsData struct {
	Registry    []subprocessor.Entry
	Changes     []subprocessor.Change
	Objections  []subprocessor.Notice
	Names       map[string]string
	Resolutions []string
	CanResolve  bool
}

func (s *Server) subprocessorsPage() Page {
	return Page{Method: http.MethodGet, Path: "subprocessors", Permission: policy.PermSubprocessorRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := subprocessorsData{Names: map[string]string{},
				Resolutions: []string{subprocessor.ResolutionObjectionWithdrawn, subprocessor.ResolutionChangeNotApplied}}
			var err error
			if d.Registry, err = s.deps.Subprocessors.List(ctx); err != nil {
				return err
			}
			if d.Changes, err = s.deps.Subprocessors.Changes(ctx); err != nil {
				return err
			}
			if d.Objections, err = s.deps.Subprocessors.Objections(ctx); err != nil {
				return err
			}
			for _, n := range d.Objections {
				if _, ok := d.Names[n.TenantID]; !ok {
					t, err := s.deps.Tenants.Get(ctx, n.TenantID)
					if err != nil {
						return err
					}
					d.Names[n.TenantID] = t.Name
				}
			}
			d.CanResolve, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermSubprocessorWrite, "platform")
			if r.URL.Query().Get("done") == "resolved" {
				v.Flash = "resolved"
			}
			return s.show(w, v, "subprocessors", "subprocessors.title", d)
		}}
}

// resolveSubmit closes a customer's open objection (subprocessor.Registry
// Resolve): the DPO's decision after talking to the customer.
func (s *Server) resolveSubmit() Page {
	return Page{Method: http.MethodPost, Path: "subprocessors/objections/{tenant_id}/{change_id}", Permission: policy.PermSubprocessorWrite, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			_, err := s.deps.Subprocessors.Resolve(r.Context(), r.PathValue("tenant_id"), r.PathValue("change_id"),
				r.PostFormValue("resolution"), r.PostFormValue("note"))
			if err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"subprocessors?done=resolved#objections", http.StatusSeeOther)
			return nil
		}}
}
