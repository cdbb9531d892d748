package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/verwerker/verwerker/client"
)

// store stands for the chat service's own storage (verwerker's records API,
// encrypted under d.Obligations.KeyRef, in a later version).
func store(message string, d *client.Decision) error {
	fmt.Printf("storing under %s until %s\n", d.Obligations.KeyRef, d.Obligations.DeletionDeadline)
	return nil
}

// The chat service asks before it stores a visitor's message, and stores
// only what is allowed, keeping the obligations the answer carries.
func Example() {
	verwerker := newVerwerker() // a stand-in answering like POST /v1/decisions
	defer verwerker.Close()

	c := client.New(verwerker.URL, "tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y", "vwk_example", nil)
	d, err := c.Decide(context.Background(), client.Question{
		Category: "chat.message", Purpose: "service.delivery", Region: "nl", SubjectRef: "visitor-7f3a9c",
	})
	if err != nil {
		log.Fatal(err) // verwerker unreachable or the question invalid: store nothing
	}
	if !d.Allow {
		for _, r := range d.Reasons {
			fmt.Printf("not stored (%s, %s): %s\n", r.Code, r.Ref, r.Message)
		}
		return
	}
	if err := store("Hallo, ik heb een vraag over mijn bestelling", d); err != nil {
		log.Fatal(err)
	}
	if d.Must("delete_asap") {
		fmt.Printf("a suspected minor's data: delete it by %s at the latest (24 hours; decision %s)\n", d.Obligations.DeletionDue, d.DecisionID)
	}
	// Output:
	// storing under tenant_keys/tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y until 2026-04-01
}

// newVerwerker starts a test server that answers POST /v1/decisions as
// verwerker does for a customer whose agreement covers chat messages for
// service delivery in the Netherlands: the decision with its obligations,
// a 401 problem without the key and a 422 problem naming the field for a
// category outside the taxonomy.
func newVerwerker() *httptest.Server {
	problem := func(w http.ResponseWriter, status int, code, detail, location string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		p := map[string]any{"status": status, "title": http.StatusText(status), "code": code, "detail": detail}
		if location != "" {
			p["errors"] = []map[string]string{{"location": location, "message": "is not a category of the taxonomy"}}
		}
		_ = json.NewEncoder(w).Encode(p)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/decisions" {
			problem(w, http.StatusNotFound, "not_found", "not found", "")
			return
		}
		if r.Header.Get("Authorization") != "Bearer vwk_example" {
			problem(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required", "")
			return
		}
		var q struct {
			TenantID string `json:"tenant_id"`
			client.Question
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			problem(w, http.StatusBadRequest, "invalid", "the body is not valid JSON", "")
			return
		}
		if q.Category != "chat.message" {
			problem(w, http.StatusUnprocessableEntity, "invalid", "validation failed", "body.category")
			return
		}
		allow := q.Purpose == "service.delivery" && q.Region == "nl"
		d := client.Decision{DecisionID: "dec_01JD5X7A2B3C4D5E6F7G8H9J0K", Allow: allow, DPAVersion: 3,
			DPAVersionID: "dpa_01JD5X6R0A1B2C3D4E5F6G7H8J", SubjectID: "sub_01JD5X7A2B3C4D5E6F7G8H9J0M"}
		if allow {
			d.Reasons = []client.Reason{{Code: "in_scope", Ref: "GDPR Art. 28(3)(a), 29; DPA v3 scope",
				Message: "Data category, purpose and region are inside the customer's processing agreement."}}
			d.Obligations = &client.Obligations{Retention: "30d_after_last_interaction", DeletionDeadline: "2026-04-01",
				KeyRef: "tenant_keys/" + q.TenantID, Actions: []string{"retention", "encrypt"}}
		} else {
			d.Reasons = []client.Reason{{Code: "purpose_not_in_scope", Ref: "GDPR Art. 28(3)(a), 29; seed 001 art. 12.3; DPA v3 scope",
				Message: "The purpose is not in the scope of the customer's processing agreement."}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	}))
}
