// Package client is the Go client the chat service uses to ask verwerker
// before storing anything (POST /v1/decisions and /v1/decisions/batch).
//
// Asking first is how the chat service processes personal data only on the
// controller's documented instructions (GDPR Art. 28(3)(a) and 29): it
// stores only what the answer allows, and keeps the obligations the answer
// carries (retention and deletion deadline, Art. 5(1)(e); the key to
// encrypt under, Art. 32; deletion within 24 hours of a suspected minor's
// data, company terms seed 000 art. 9.5).
//
// It has no dependencies beyond the standard library. A Client is safe for
// concurrent use and keeps its connections alive.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxBatch is the most questions one DecideBatch call may send.
const MaxBatch = 1000

// Question asks whether data of Category may be stored for Purpose in
// Region. The optional fields narrow the question.
type Question struct {
	Category        string `json:"category"`
	Purpose         string `json:"purpose"`
	Region          string `json:"region"`
	Subprocessor    string `json:"subprocessor,omitempty"`
	SpecialCategory string `json:"special_category,omitempty"`
	SuspectedMinor  bool   `json:"suspected_minor,omitempty"`
	// SubjectRef is the chat service's pseudonymous reference of the
	// visitor (at most 128 characters); verwerker stores only an HMAC of it.
	SubjectRef string `json:"subject_ref,omitempty"`
}

// Reason is one ground of a decision.
type Reason struct {
	Code    string `json:"code"`
	Ref     string `json:"ref"`
	Message string `json:"message"`
}

// Obligations say how allowed data must be kept.
type Obligations struct {
	Retention string `json:"retention"`
	// DeletionDeadline is the last day (YYYY-MM-DD) the data may be kept,
	// empty when the rule runs from a contract end not yet known.
	DeletionDeadline string `json:"deletion_deadline"`
	// DeletionDue is the instant the data must be gone: for a suspected
	// minor's data (delete_asap) 24 hours after the decision.
	DeletionDue *time.Time `json:"deletion_due"`
	// KeyRef names the key to encrypt the data under.
	KeyRef  string   `json:"key_ref"`
	Actions []string `json:"actions"`
}

// Decision is verwerker's answer.
type Decision struct {
	DecisionID   string       `json:"decision_id"`
	Allow        bool         `json:"allow"`
	Reasons      []Reason     `json:"reasons"`
	Obligations  *Obligations `json:"obligations"`
	DPAVersion   int          `json:"dpa_version"`
	DPAVersionID string       `json:"dpa_version_id"`
	SubjectID    string       `json:"subject_id"`
}

// Must reports whether the decision carries the obligation action (for
// example "delete_asap").
func (d *Decision) Must(action string) bool {
	if d.Obligations == nil {
		return false
	}
	for _, a := range d.Obligations.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// Error is a problem answer of verwerker (RFC 9457).
type Error struct {
	Status int
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verwerker: %d %s: %s", e.Status, e.Code, e.Detail)
	for _, f := range e.Errors {
		fmt.Fprintf(&b, " [%s: %s]", f.Location, f.Message)
	}
	return b.String()
}

// Client asks one verwerker for one tenant with the tenant's chat service
// key.
type Client struct {
	base, tenant, auth string
	http               *http.Client
}

// New returns a client for the verwerker at baseURL ("https://verwerker.example"),
// asking about tenantID with the API key token (vwk_...). httpClient may be
// nil for a client with a 10-second timeout.
func New(baseURL, tenantID, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), tenant: tenantID, auth: "Bearer " + token, http: httpClient}
}

// Decide asks one question.
func (c *Client) Decide(ctx context.Context, q Question) (*Decision, error) {
	body := struct {
		TenantID string `json:"tenant_id"`
		Question
	}{c.tenant, q}
	var d Decision
	if err := c.post(ctx, "/v1/decisions", body, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// DecideBatch asks up to MaxBatch questions at once; the answers are in the
// order of the questions.
func (c *Client) DecideBatch(ctx context.Context, qs []Question) ([]Decision, error) {
	if len(qs) > MaxBatch {
		return nil, fmt.Errorf("verwerker: a batch holds at most %d questions", MaxBatch)
	}
	body := struct {
		TenantID string     `json:"tenant_id"`
		Items    []Question `json:"items"`
	}{c.tenant, qs}
	var out struct {
		Items []Decision `json:"items"`
	}
	if err := c.post(ctx, "/v1/decisions/batch", body, &out); err != nil {
		return nil, err
	}
	if len(out.Items) != len(qs) {
		return nil, errors.New("verwerker: the answer does not match the questions")
	}
	return out.Items, nil
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("verwerker: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("verwerker: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		e := &Error{Status: res.StatusCode}
		_ = json.Unmarshal(raw, e)
		return e
	}
	return json.Unmarshal(raw, out)
}
