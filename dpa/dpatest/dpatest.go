// Package dpatest gives tests a customer with an active processing
// agreement in one call.
package dpatest

import (
	"context"
	"testing"

	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
)

// Activate drafts sc for the tenant, offers it, accepts the Dutch document
// on the customer's behalf (demo.ActivateDPA) and activates it.
func Activate(t testing.TB, svc *dpa.Service, tenantID string, sc dpa.Scope) dpa.Version {
	t.Helper()
	v, err := demo.ActivateDPA(context.Background(), svc, tenantID, sc)
	if err != nil {
		t.Fatalf("dpatest: activate: %v", err)
	}
	return v
}
