package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
)

// Subprocessor is an entry of the subprocessor registry.
type Subprocessor struct {
	ID                string    `json:"id" doc:"Id used in agreements and decisions."`
	Name              string    `json:"name" doc:"Legal name."`
	Service           string    `json:"service" doc:"What it does for the processor."`
	Locations         []string  `json:"locations" doc:"Regions where it processes data."`
	TransferMechanism string    `json:"transfer_mechanism" enum:"none,adequacy,sccs" doc:"none when every location is in the EEA; otherwise the transfer basis (GDPR Art. 45 or 46(2)(c))."`
	Categories        []string  `json:"categories" doc:"Data categories it processes."`
	ContractDate      string    `json:"contract_date" doc:"Date of the written agreement binding it to the same obligations (YYYY-MM-DD)."`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func subprocessorOut(s subprocessor.Entry) Subprocessor { return Subprocessor(s) }

func subprocessorsOut(list []subprocessor.Entry) []Subprocessor {
	out := make([]Subprocessor, 0, len(list))
	for _, s := range list {
		out = append(out, subprocessorOut(s))
	}
	return out
}

// SubprocessorChange is a proposed change of subprocessors.
type SubprocessorChange struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind" enum:"add,replace,remove"`
	Subprocessor string     `json:"subprocessor,omitempty" doc:"The subprocessor that starts (add, replace)."`
	Replaces     string     `json:"replaces,omitempty" doc:"The subprocessor that stops (replace, remove)."`
	EffectiveOn  string     `json:"effective_on" doc:"Earliest date it takes effect, in each customer's calendar (its time zone)."`
	Description  string     `json:"description"`
	Status       string     `json:"status" enum:"announced,withdrawn"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	WithdrawnAt  *time.Time `json:"withdrawn_at,omitempty"`
}

// SubprocessorNotice is a change as it concerns one customer.
type SubprocessorNotice struct {
	TenantID        string         `json:"tenant_id"`
	ChangeID        string         `json:"change_id"`
	WindowDays      int            `json:"window_days" doc:"The customer's objection window from its agreement."`
	NotifiedAt      *time.Time     `json:"notified_at,omitempty" doc:"When the customer was told: the first delivery of the notice by a channel, or the start of the day of a delivery recorded out of band. Absent until delivered."`
	WindowEndsAt    *time.Time     `json:"window_ends_at,omitempty" doc:"Exclusive end of the objection window: window_days from notified_at, counted by Regulation 1182/71 in the customer's calendar (its time zone). Absent until delivered."`
	EffectiveAt     *time.Time     `json:"effective_at,omitempty" doc:"When the change takes effect for the customer unless it objects: the later of window_ends_at and the start of effective_on in the customer's calendar. Absent until delivered: a change never takes effect for a customer that was not told."`
	Delivery        NoticeDelivery `json:"delivery" doc:"Whether and how the notice reached the customer."`
	Status          string         `json:"status" enum:"pending,objected,effective,not_applied,withdrawn"`
	ObjectedAt      *time.Time     `json:"objected_at,omitempty"`
	ObjectedBy      string         `json:"objected_by,omitempty"`
	ObjectionReason string         `json:"objection_reason,omitempty"`
	ResolvedAt      *time.Time     `json:"resolved_at,omitempty"`
	ResolvedBy      string         `json:"resolved_by,omitempty"`
	Resolution      string         `json:"resolution,omitempty" enum:"objection_withdrawn,change_not_applied"`
	ResolutionNote  string         `json:"resolution_note,omitempty"`
	AppliedAt       *time.Time     `json:"applied_at,omitempty"`
}

// NoticeDelivery is where the delivery of a notice stands.
type NoticeDelivery struct {
	State            string           `json:"state" enum:"sending,delivered,undelivered" doc:"sending: a channel is making its first attempt. delivered: a channel delivered it, or the DPO recorded a delivery by other means; the objection window runs from then. undelivered: no channel delivered it and none is still on its first attempt (none configured, or every one failing): an alarm (GET /v1/alarms); the window has not started and the change does not take effect for the customer."`
	Via              string           `json:"via,omitempty" enum:"webhook,email,out_of_band" doc:"The channel that delivered it first."`
	UndeliveredSince *time.Time       `json:"undelivered_since,omitempty" doc:"When it became undelivered."`
	Channels         []NoticeChannel  `json:"channels" nullable:"false"`
	OutOfBand        *NoticeOutOfBand `json:"out_of_band,omitempty" doc:"The DPO's record of a delivery by other means."`
}

// NoticeChannel is where one channel of a notice stands.
type NoticeChannel struct {
	Channel   string    `json:"channel" enum:"webhook,email"`
	State     string    `json:"state" enum:"not_configured,sending,failing,failed,delivered" doc:"failing: the last attempt failed and retries continue; failed: attempts exhausted (a dead letter)."`
	Cause     string    `json:"cause,omitempty" doc:"Why it is not configured (no_endpoint, smtp_not_configured, no_contact, no_outbox) or failing (the outbox's error code: http_500, connect_failed, smtp_550, ...)."`
	MessageID string    `json:"message_id,omitempty" doc:"The outbox message; its delivery log is at /v1/tenants/{tenant_id}/outbox/messages/{message_id}/attempts."`
	Attempts  int       `json:"attempts"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NoticeOutOfBand is a delivery the DPO recorded.
type NoticeOutOfBand struct {
	Channel     string    `json:"channel" enum:"registered_letter,letter,courier,in_person,email,other"`
	DeliveredOn string    `json:"delivered_on" doc:"The day the customer received it, in its calendar."`
	Reference   string    `json:"reference,omitempty"`
	RecordedBy  string    `json:"recorded_by"`
	RecordedAt  time.Time `json:"recorded_at"`
}

func deliveryOut(d subprocessor.Delivery) NoticeDelivery {
	out := NoticeDelivery{State: d.State, Via: d.Via, UndeliveredSince: d.UndeliveredSince, Channels: make([]NoticeChannel, 0, len(d.Channels))}
	for _, c := range d.Channels {
		out.Channels = append(out.Channels, NoticeChannel(c))
	}
	if d.OutOfBand != nil {
		o := NoticeOutOfBand(*d.OutOfBand)
		out.OutOfBand = &o
	}
	return out
}

// SubprocessorBlock is an open objection blocking processing through a
// subprocessor for a customer.
type SubprocessorBlock struct {
	Subprocessor string    `json:"subprocessor"`
	ChangeID     string    `json:"change_id"`
	Since        time.Time `json:"since"`
	Categories   []string  `json:"categories" doc:"Data categories whose processing through it is blocked."`
	Locations    []string  `json:"locations" doc:"Its locations."`
}

// CurrentSubprocessor is a subprocessor on a customer's effective list.
type CurrentSubprocessor struct {
	Subprocessor
	Since time.Time `json:"since"`
}

// TenantSubprocessorChange is a change with the customer's notice of it.
type TenantSubprocessorChange struct {
	Change          SubprocessorChange `json:"change"`
	Notice          SubprocessorNotice `json:"notice"`
	NewSubprocessor *Subprocessor      `json:"new_subprocessor,omitempty"`
	OldSubprocessor *Subprocessor      `json:"old_subprocessor,omitempty"`
}

// SubprocessorListing is a customer's view of its subprocessors.
type SubprocessorListing struct {
	TenantID string                     `json:"tenant_id"`
	Current  []CurrentSubprocessor      `json:"current" nullable:"false"`
	Changes  []TenantSubprocessorChange `json:"changes" nullable:"false"`
	Blocks   []SubprocessorBlock        `json:"blocks" nullable:"false"`
}

func changeOut(c subprocessor.Change) SubprocessorChange { return SubprocessorChange(c) }

func noticeOut(n subprocessor.Notice) SubprocessorNotice {
	return SubprocessorNotice{TenantID: n.TenantID, ChangeID: n.ChangeID, WindowDays: n.WindowDays, NotifiedAt: n.NotifiedAt,
		WindowEndsAt: n.WindowEndsAt, EffectiveAt: n.EffectiveAt, Delivery: deliveryOut(n.Delivery), Status: n.Status,
		ObjectedAt: n.ObjectedAt, ObjectedBy: n.ObjectedBy, ObjectionReason: n.ObjectionReason, ResolvedAt: n.ResolvedAt,
		ResolvedBy: n.ResolvedBy, Resolution: n.Resolution, ResolutionNote: n.ResolutionNote, AppliedAt: n.AppliedAt}
}

func noticesOut(list []subprocessor.Notice) []SubprocessorNotice {
	out := make([]SubprocessorNotice, 0, len(list))
	for _, n := range list {
		out = append(out, noticeOut(n))
	}
	return out
}

func blocksOut(list []subprocessor.Block) []SubprocessorBlock {
	out := make([]SubprocessorBlock, 0, len(list))
	for _, b := range list {
		out = append(out, SubprocessorBlock(b))
	}
	return out
}

func optionalSubprocessor(s *subprocessor.Entry) *Subprocessor {
	if s == nil {
		return nil
	}
	out := subprocessorOut(*s)
	return &out
}

func listingOut(l subprocessor.Listing) SubprocessorListing {
	out := SubprocessorListing{TenantID: l.TenantID, Current: []CurrentSubprocessor{}, Changes: []TenantSubprocessorChange{}, Blocks: blocksOut(l.Blocks)}
	for _, c := range l.Current {
		out.Current = append(out.Current, CurrentSubprocessor{Subprocessor: subprocessorOut(c.Entry), Since: c.Since})
	}
	for _, c := range l.Changes {
		out.Changes = append(out.Changes, TenantSubprocessorChange{Change: changeOut(c.Change), Notice: noticeOut(c.Notice),
			NewSubprocessor: optionalSubprocessor(c.NewSubprocessor), OldSubprocessor: optionalSubprocessor(c.OldSubprocessor)})
	}
	return out
}

type subprocessorPath struct {
	SubprocessorID string `path:"subprocessor_id" maxLength:"64" doc:"Subprocessor id."`
}

type subprocessorBody struct{ Body Subprocessor }

type subprocessorList struct {
	Body struct {
		Items []Subprocessor `json:"items" nullable:"false"`
	}
}

type registerSubprocessorInput struct {
	Body struct {
		ID                string   `json:"id" maxLength:"64" doc:"1 to 64 lowercase letters, digits, dots, dashes or underscores."`
		Name              string   `json:"name" maxLength:"200"`
		Service           string   `json:"service" maxLength:"200"`
		Locations         []string `json:"locations" maxItems:"30" doc:"Regions of the taxonomy (see the agreement scope)."`
		TransferMechanism string   `json:"transfer_mechanism" maxLength:"16" doc:"none, adequacy or sccs."`
		Categories        []string `json:"categories" maxItems:"50" doc:"Data categories of the taxonomy."`
		ContractDate      string   `json:"contract_date" maxLength:"10" doc:"YYYY-MM-DD."`
	}
}

type describeSubprocessorInput struct {
	SubprocessorID string `path:"subprocessor_id" maxLength:"64" doc:"Subprocessor id."`
	Body           struct {
		Name         string `json:"name" maxLength:"200"`
		Service      string `json:"service" maxLength:"200"`
		ContractDate string `json:"contract_date" maxLength:"10" doc:"YYYY-MM-DD."`
	}
}

type changePath struct {
	ChangeID string `path:"change_id" maxLength:"64" doc:"Change id."`
}

type proposeChangeInput struct {
	Body struct {
		Kind         string `json:"kind" maxLength:"16" doc:"add, replace or remove."`
		Subprocessor string `json:"subprocessor,omitempty" maxLength:"64" doc:"The subprocessor that starts (add, replace)."`
		Replaces     string `json:"replaces,omitempty" maxLength:"64" doc:"The subprocessor that stops (replace, remove)."`
		EffectiveOn  string `json:"effective_on" maxLength:"10" doc:"Earliest date it takes effect, YYYY-MM-DD; for each customer it takes effect no earlier than the end of its objection window."`
		Description  string `json:"description" maxLength:"2000" doc:"Why, for the customers."`
	}
}

// ChangeWithNotices is a change with every customer's notice.
type ChangeWithNotices struct {
	Change  SubprocessorChange   `json:"change"`
	Notices []SubprocessorNotice `json:"notices" nullable:"false" doc:"One per affected customer, with its window and any objection."`
}

type changeBody struct{ Body ChangeWithNotices }

type changeList struct {
	Body struct {
		Items []SubprocessorChange `json:"items" nullable:"false"`
	}
}

type noticeList struct {
	Body struct {
		Items []SubprocessorNotice `json:"items" nullable:"false"`
	}
}

type noticeBody struct{ Body SubprocessorNotice }

type objectInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	ChangeID string `path:"change_id" maxLength:"64" doc:"Change id."`
	Body     struct {
		Reason string `json:"reason" maxLength:"4000" doc:"Why the customer objects. Shown to the processor's DPO."`
	}
}

type recordDeliveryInput struct {
	ChangeID string `path:"change_id" maxLength:"64" doc:"Change id."`
	TenantID string `path:"tenant_id" maxLength:"64" doc:"The customer that was told."`
	Body     struct {
		Channel     string `json:"channel" maxLength:"32" doc:"How the customer was told: registered_letter, letter, courier, in_person, email (sent by hand) or other."`
		DeliveredOn string `json:"delivered_on" maxLength:"10" doc:"The day the customer received the notice, YYYY-MM-DD in the customer's calendar: not in the future, not before the change was proposed. Its objection window counts from this day (the day itself does not count)."`
		Reference   string `json:"reference,omitempty" maxLength:"200" doc:"Optional reference, such as a tracking number. Shown with the notice, never put in audit events."`
	}
}

type resolveInput struct {
	ChangeID string `path:"change_id" maxLength:"64" doc:"Change id."`
	TenantID string `path:"tenant_id" maxLength:"64" doc:"The objecting customer."`
	Body     struct {
		Resolution string `json:"resolution" maxLength:"32" doc:"objection_withdrawn (the change goes ahead for the customer, not before its window ended) or change_not_applied (the customer's list stays as it was)."`
		Note       string `json:"note,omitempty" maxLength:"4000"`
	}
}

type listingBody struct{ Body SubprocessorListing }

type blockList struct {
	Body struct {
		Items []SubprocessorBlock `json:"items" nullable:"false"`
	}
}

type publicInput struct {
	Slug string `path:"slug" maxLength:"64" doc:"The page's name: the customer reads it with GET /v1/tenants/{tenant_id}/subprocessor-page. A customer's id is not a page name."`
	Lang string `query:"lang" enum:"nl,en" default:"nl" doc:"Language of the page."`
}

type publicFeedInput struct {
	Slug string `path:"slug" maxLength:"64" doc:"The page's name: the customer reads it with GET /v1/tenants/{tenant_id}/subprocessor-page. A customer's id is not a page name."`
}

// publicPagePath is the path of the public page named slug; with ".json"
// or ".atom" appended, of its JSON and feed.
func publicPagePath(slug string) string { return "/public/pages/" + slug + "/subprocessors" }

// SubprocessorPage is the address of the customer's public subprocessor
// page, its JSON and its Atom feed.
type SubprocessorPage struct {
	Slug      string     `json:"slug" doc:"The page's unguessable name (128 random bits, base32). Whoever knows it can read the page: rotate it to make the old addresses stop working."`
	PageURL   string     `json:"page_url" doc:"The HTML page (add ?lang=en for English), as a path on this server."`
	JSONURL   string     `json:"json_url" doc:"The same list as JSON, as a path on this server."`
	FeedURL   string     `json:"feed_url" doc:"The Atom feed of announced changes, as a path on this server."`
	CreatedAt time.Time  `json:"created_at" doc:"When the customer first asked for its page: it has no public page before."`
	RotatedAt *time.Time `json:"rotated_at,omitempty" doc:"When the address last changed."`
}

type subprocessorPageBody struct{ Body SubprocessorPage }

func subprocessorPageOut(p subprocessor.PublicPage) *subprocessorPageBody {
	base := publicPagePath(p.Slug)
	return &subprocessorPageBody{Body: SubprocessorPage{Slug: p.Slug, PageURL: base, JSONURL: base + ".json", FeedURL: base + ".atom",
		CreatedAt: p.CreatedAt, RotatedAt: p.RotatedAt}}
}

type feedOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

// PublicSubprocessorChange is an announced change as the public sees it.
type PublicSubprocessorChange struct {
	ID              string        `json:"id"`
	Kind            string        `json:"kind" enum:"add,replace,remove"`
	Description     string        `json:"description"`
	NewSubprocessor *Subprocessor `json:"new_subprocessor,omitempty"`
	OldSubprocessor *Subprocessor `json:"old_subprocessor,omitempty"`
	AnnouncedAt     time.Time     `json:"announced_at"`
	EffectiveAt     *time.Time    `json:"effective_at,omitempty" doc:"When it takes effect for this customer if it goes ahead; absent until the customer has been told (its objection window starts then)."`
	Status          string        `json:"status" enum:"announced,effective,withdrawn"`
	WithdrawnAt     *time.Time    `json:"withdrawn_at,omitempty" doc:"When it stopped concerning the customer, for a withdrawn change."`
}

// PublicSubprocessors is the public list of a customer's subprocessors. It
// never names the customer's id.
type PublicSubprocessors struct {
	ControllerName string                     `json:"controller_name"`
	Current        []CurrentSubprocessor      `json:"current" nullable:"false"`
	Changes        []PublicSubprocessorChange `json:"changes" nullable:"false"`
	Updated        time.Time                  `json:"updated"`
}

type publicListingBody struct{ Body PublicSubprocessors }

func publicOut(p subprocessor.Public) PublicSubprocessors {
	out := PublicSubprocessors{ControllerName: p.ControllerName, Current: []CurrentSubprocessor{},
		Changes: []PublicSubprocessorChange{}, Updated: p.Updated}
	for _, c := range p.Current {
		out.Current = append(out.Current, CurrentSubprocessor{Subprocessor: subprocessorOut(c.Entry), Since: c.Since})
	}
	for _, c := range p.Changes {
		out.Changes = append(out.Changes, PublicSubprocessorChange{ID: c.ID, Kind: c.Kind, Description: c.Description,
			NewSubprocessor: optionalSubprocessor(c.NewSubprocessor), OldSubprocessor: optionalSubprocessor(c.OldSubprocessor),
			AnnouncedAt: c.AnnouncedAt, EffectiveAt: c.EffectiveAt, Status: c.Status, WithdrawnAt: c.WithdrawnAt})
	}
	return out
}

func (s *Server) registerSubprocessors() {
	const tag = "Subprocessors"
	reg := func() *subprocessor.Registry { return s.deps.Subprocessors }

	register(s, huma.Operation{OperationID: "listSubprocessors", Method: http.MethodGet, Path: "/v1/subprocessors",
		Summary: "List the subprocessor registry", Tags: []string{tag}},
		policy.PermSubprocessorRead, platformScope, func(ctx context.Context, _ *struct{}) (*subprocessorList, error) {
			list, err := reg().List(ctx)
			if err != nil {
				return nil, err
			}
			out := &subprocessorList{}
			out.Body.Items = subprocessorsOut(list)
			return out, nil
		})

	op := huma.Operation{OperationID: "registerSubprocessor", Method: http.MethodPost, Path: "/v1/subprocessors",
		Summary: "Register a subprocessor", Tags: []string{tag}, DefaultStatus: http.StatusCreated, MaxBodyBytes: 16 << 10,
		Description: "Adds a third party to the registry. It touches no customer's data until an agreement authorises it or a change adds it.",
		Errors:      []int{http.StatusConflict}}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *registerSubprocessorInput) (*subprocessorBody, error) {
		b := in.Body
		sp, err := reg().Add(ctx, subprocessor.Entry{ID: b.ID, Name: b.Name, Service: b.Service, Locations: b.Locations,
			TransferMechanism: b.TransferMechanism, Categories: b.Categories, ContractDate: b.ContractDate})
		if err != nil {
			return nil, err
		}
		return &subprocessorBody{Body: subprocessorOut(sp)}, nil
	})

	register(s, huma.Operation{OperationID: "getSubprocessor", Method: http.MethodGet, Path: "/v1/subprocessors/{subprocessor_id}",
		Summary: "Get a subprocessor", Tags: []string{tag}, Errors: []int{http.StatusNotFound}},
		policy.PermSubprocessorRead, platformScope, func(ctx context.Context, in *subprocessorPath) (*subprocessorBody, error) {
			sp, err := reg().Get(ctx, in.SubprocessorID)
			if err != nil {
				return nil, err
			}
			return &subprocessorBody{Body: subprocessorOut(sp)}, nil
		})

	op = huma.Operation{OperationID: "describeSubprocessor", Method: http.MethodPut, Path: "/v1/subprocessors/{subprocessor_id}",
		Summary: "Update a subprocessor's description", Tags: []string{tag}, MaxBodyBytes: 8 << 10, Errors: []int{http.StatusNotFound},
		Description: "Changes name, service and contract date. Locations, transfer mechanism and categories decide whom it touches: to change them, register a new entry and propose a replacement, so that customers are told and may object."}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *describeSubprocessorInput) (*subprocessorBody, error) {
		sp, err := reg().Describe(ctx, in.SubprocessorID, in.Body.Name, in.Body.Service, in.Body.ContractDate)
		if err != nil {
			return nil, err
		}
		return &subprocessorBody{Body: subprocessorOut(sp)}, nil
	})

	op = huma.Operation{OperationID: "proposeSubprocessorChange", Method: http.MethodPost, Path: "/v1/subprocessor-changes",
		Summary: "Propose and announce a change of subprocessors", Tags: []string{tag}, DefaultStatus: http.StatusCreated, MaxBodyBytes: 16 << 10,
		Description: "Records the change, computes the affected customers (add: every customer with an active agreement whose data categories the new subprocessor processes; replace, remove: every customer the old one touches), and notifies each by signed webhook and e-mail (GDPR Art. 28(2)). Each customer's objection window (from its agreement) starts when a channel delivers its notice, counted in its calendar; a notice no channel delivers is undelivered (an alarm, GET /v1/alarms) until one does or the DPO records a delivery by other means. Nothing takes effect for a customer before its window ends, nor while it objects."}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *proposeChangeInput) (*changeBody, error) {
		b := in.Body
		c, notices, err := reg().Propose(ctx, subprocessor.Proposal{Kind: b.Kind, Subprocessor: b.Subprocessor, Replaces: b.Replaces,
			EffectiveOn: b.EffectiveOn, Description: b.Description})
		if err != nil {
			return nil, err
		}
		return &changeBody{Body: ChangeWithNotices{Change: changeOut(c), Notices: noticesOut(notices)}}, nil
	})

	register(s, huma.Operation{OperationID: "listSubprocessorChanges", Method: http.MethodGet, Path: "/v1/subprocessor-changes",
		Summary: "List subprocessor changes", Description: "Newest first.", Tags: []string{tag}},
		policy.PermSubprocessorRead, platformScope, func(ctx context.Context, _ *struct{}) (*changeList, error) {
			list, err := reg().Changes(ctx)
			if err != nil {
				return nil, err
			}
			out := &changeList{}
			out.Body.Items = make([]SubprocessorChange, 0, len(list))
			for _, c := range list {
				out.Body.Items = append(out.Body.Items, changeOut(c))
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "getSubprocessorChange", Method: http.MethodGet, Path: "/v1/subprocessor-changes/{change_id}",
		Summary: "Get a change with every customer's notice", Description: "Who was told, when each window ends, who objected and why, and where each customer stands.",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound}},
		policy.PermSubprocessorRead, platformScope, func(ctx context.Context, in *changePath) (*changeBody, error) {
			c, notices, err := reg().Change(ctx, in.ChangeID)
			if err != nil {
				return nil, err
			}
			return &changeBody{Body: ChangeWithNotices{Change: changeOut(c), Notices: noticesOut(notices)}}, nil
		})

	op = huma.Operation{OperationID: "withdrawSubprocessorChange", Method: http.MethodPost, Path: "/v1/subprocessor-changes/{change_id}/withdraw",
		Summary: "Withdraw a change", Description: "Withdraws the change for every customer it has not taken effect for, lifts their blocks and tells them.",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound, http.StatusConflict}}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *changePath) (*changeBody, error) {
		if _, err := reg().Withdraw(ctx, in.ChangeID); err != nil {
			return nil, err
		}
		c, notices, err := reg().Change(ctx, in.ChangeID)
		if err != nil {
			return nil, err
		}
		return &changeBody{Body: ChangeWithNotices{Change: changeOut(c), Notices: noticesOut(notices)}}, nil
	})

	register(s, huma.Operation{OperationID: "listSubprocessorObjections", Method: http.MethodGet, Path: "/v1/subprocessor-objections",
		Summary: "List open objections", Description: "Every customer's open objection, oldest first, with its reason: what the DPO must resolve. Each blocks processing through the subprocessor for that customer.",
		Tags: []string{tag}},
		policy.PermSubprocessorRead, platformScope, func(ctx context.Context, _ *struct{}) (*noticeList, error) {
			list, err := reg().Objections(ctx)
			if err != nil {
				return nil, err
			}
			out := &noticeList{}
			out.Body.Items = noticesOut(list)
			return out, nil
		})

	op = huma.Operation{OperationID: "resolveSubprocessorObjection", Method: http.MethodPost,
		Path:    "/v1/subprocessor-changes/{change_id}/objections/{tenant_id}/resolve",
		Summary: "Resolve a customer's objection", Tags: []string{tag}, MaxBodyBytes: 16 << 10,
		Description: "The DPO's decision after talking to the customer. Either resolution lifts the block.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict}}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *resolveInput) (*noticeBody, error) {
		n, err := reg().Resolve(ctx, in.TenantID, in.ChangeID, in.Body.Resolution, in.Body.Note)
		if err != nil {
			return nil, err
		}
		return &noticeBody{Body: noticeOut(n)}, nil
	})

	op = huma.Operation{OperationID: "recordSubprocessorNoticeDelivery", Method: http.MethodPost,
		Path:    "/v1/subprocessor-changes/{change_id}/notices/{tenant_id}/delivery",
		Summary: "Record a delivery by other means", Tags: []string{tag}, MaxBodyBytes: 8 << 10,
		Description: "For a notice no channel delivered (delivery state sending or undelivered): the DPO records that the customer was told otherwise, for example by registered letter, and on which day. The customer's objection window starts then, in its calendar, and the change takes effect for it no earlier than the window's end (at once if that has passed). Audited. A notice already delivered, or of a change withdrawn, effective or not applied for the customer: 409.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict}}
	register(s, op, policy.PermSubprocessorWrite, platformScope, func(ctx context.Context, in *recordDeliveryInput) (*noticeBody, error) {
		n, err := reg().RecordDelivery(ctx, in.TenantID, in.ChangeID, subprocessor.OutOfBandDelivery{Channel: in.Body.Channel,
			DeliveredOn: in.Body.DeliveredOn, Reference: in.Body.Reference})
		if err != nil {
			return nil, err
		}
		return &noticeBody{Body: noticeOut(n)}, nil
	})

	register(s, huma.Operation{OperationID: "getTenantSubprocessors", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/subprocessors",
		Summary: "List the customer's subprocessors", Description: "Who touches the customer's data now, the announced changes that concern it with their windows and its objections, and what is blocked (seed 000 art. 10.2).",
		Tags: []string{tag}},
		policy.PermSubprocessorList, tenantScope, func(ctx context.Context, in *tenantPath) (*listingBody, error) {
			l, err := reg().ForTenant(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			return &listingBody{Body: listingOut(l)}, nil
		})

	register(s, huma.Operation{OperationID: "getTenantSubprocessorBlocks", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/subprocessor-blocks",
		Summary: "List the customer's blocked subprocessors", Description: "The open objections that block processing through a subprocessor, with the data categories and locations they cover. The decision engine denies those routes.",
		Tags: []string{tag}},
		policy.PermSubprocessorList, tenantScope, func(ctx context.Context, in *tenantPath) (*blockList, error) {
			blocks, err := reg().Blocks(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			out := &blockList{}
			out.Body.Items = blocksOut(blocks)
			return out, nil
		})

	op = huma.Operation{OperationID: "objectToSubprocessorChange", Method: http.MethodPost,
		Path:    "/v1/tenants/{tenant_id}/subprocessor-changes/{change_id}/objection",
		Summary: "Object to a change", Tags: []string{tag}, MaxBodyBytes: 16 << 10,
		Description: "The controller objects, with its reason, before its window ends (GDPR Art. 28(2)). The change is then held for it and processing of its data through the new subprocessor is blocked until the DPO resolves the objection. A customer whose notice was not yet delivered may object already. After the window, or twice: 409.",
		Errors:      []int{http.StatusConflict}}
	register(s, op, policy.PermSubprocessorObject, tenantScope, func(ctx context.Context, in *objectInput) (*noticeBody, error) {
		n, err := reg().Object(ctx, in.TenantID, in.ChangeID, in.Body.Reason)
		if err != nil {
			return nil, err
		}
		return &noticeBody{Body: noticeOut(n)}, nil
	})

	register(s, huma.Operation{OperationID: "getSubprocessorPage", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/subprocessor-page",
		Summary: "Get the address of the customer's public subprocessor page",
		Description: "The unguessable address of the public page, JSON and Atom feed of the customer's subprocessors, for its privacy statement (seed 000 art. 10.2). " +
			"The first call creates it: a customer has no public page before. The customer's id never addresses a public page.",
		Tags: []string{tag}},
		policy.PermSubprocessorList, tenantScope, func(ctx context.Context, in *tenantPath) (*subprocessorPageBody, error) {
			p, err := reg().PublicPage(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			return subprocessorPageOut(p), nil
		})

	op = huma.Operation{OperationID: "rotateSubprocessorPage", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/subprocessor-page/rotate",
		Summary: "Give the public subprocessor page a new address",
		Description: "A new unguessable address for the page, its JSON and its feed. The old addresses answer 404 from this moment on, on every replica. " +
			"Audited (subprocessor.page.rotate), without either address.",
		Tags: []string{tag}}
	register(s, op, policy.PermPublicPageRotate, tenantScope, func(ctx context.Context, in *tenantPath) (*subprocessorPageBody, error) {
		p, err := reg().RotatePublicPage(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		return subprocessorPageOut(p), nil
	})

	register(s, huma.Operation{OperationID: "getPublicSubprocessors", Method: http.MethodGet, Path: "/public/pages/{slug}/subprocessors.json",
		Summary: "Public list of a customer's subprocessors (JSON)", Description: "The current subprocessors and announced changes; never objections, never the customer's id. An unknown or rotated page is a 404.",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound}},
		Public, platformScope, func(ctx context.Context, in *publicFeedInput) (*publicListingBody, error) {
			p, err := reg().PublicListingBySlug(ctx, in.Slug)
			if err != nil {
				return nil, err
			}
			return &publicListingBody{Body: publicOut(p)}, nil
		})

	op = huma.Operation{OperationID: "getPublicSubprocessorsPage", Method: http.MethodGet, Path: "/public/pages/{slug}/subprocessors",
		Summary: "Public page of a customer's subprocessors", Description: "HTML in Dutch or English, for the customer's own privacy statement (seed 000 art. 10.2). An unknown or rotated page is a 404.",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound}, Responses: htmlResponses("The page.")}
	register(s, op, Public, platformScope, func(ctx context.Context, in *publicInput) (*htmlPage, error) {
		p, err := reg().PublicListingBySlug(ctx, in.Slug)
		if err != nil {
			return nil, err
		}
		page, err := subprocessor.RenderPublic(p, in.Lang, publicPagePath(p.Slug)+".atom")
		if err != nil {
			return nil, fromErrorAt(err, "query")
		}
		return newHTMLPage(page, sha256Hex(page)), nil
	})

	op = huma.Operation{OperationID: "getPublicSubprocessorsFeed", Method: http.MethodGet, Path: "/public/pages/{slug}/subprocessors.atom",
		Summary: "Atom feed of a customer's subprocessor changes", Description: "One entry per announced change (RFC 4287), for feed readers. An unknown or rotated page is a 404.",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound},
		Responses: map[string]*huma.Response{"200": {Description: "The feed.", Content: map[string]*huma.MediaType{
			"application/atom+xml": {Schema: &huma.Schema{Type: "string"}}}}}}
	register(s, op, Public, platformScope, func(ctx context.Context, in *publicFeedInput) (*feedOutput, error) {
		p, err := reg().PublicListingBySlug(ctx, in.Slug)
		if err != nil {
			return nil, err
		}
		base := publicPagePath(p.Slug)
		feed, err := subprocessor.Atom(p, base+".atom", base)
		if err != nil {
			return nil, err
		}
		return &feedOutput{ContentType: "application/atom+xml; charset=utf-8", Body: feed}, nil
	})
}
