// Package dpatest gives tests a customer with an active processing
// agreement in one call.
package dpatest

import (
	"context"
	"testing"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
)

// Activate drafts sc for the tenant, offers it, accepts the Dutch document
// on the customer's behalf (as principal "usr_test") and activates it.
func Activate(t testing.TB, svc *dpa.Service, tenantID string, sc dpa.Scope) dpa.Version {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_test", Kind: verwerker.PrincipalAPIKey})
	v, err := svc.Create(ctx, tenantID, sc)
	if err == nil {
		v, err = svc.Offer(ctx, tenantID, v.Number)
	}
	if err == nil {
		v, err = svc.Accept(ctx, tenantID, v.Number, v.SHA256NL)
	}
	if err == nil {
		v, err = svc.Activate(ctx, tenantID, v.Number)
	}
	if err != nil {
		t.Fatalf("dpatest: activate: %v", err)
	}
	return v
}
