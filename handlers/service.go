package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/prometheus/client_golang/prometheus"
)

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	store     Store
	policy    *approvals.Policy
	catalogue Catalogue
	lifecycle Lifecycle
	dir       Directory
	reports   Reports       // nil without an audit log
	goldens   Goldens       // nil: no golden copies
	builder   GoldenBuilder // nil: no golden copies
	masking   Masking       // nil: explain says nothing of the columns
	requests  *prometheus.CounterVec
	log       *zap.Logger
	now       func() time.Time
}

// Deps are what a Service needs.
type Deps struct {
	Store     Store
	Policy    *approvals.Policy
	Catalogue Catalogue
	Lifecycle Lifecycle
	Directory Directory
	Reports   Reports               // optional: the report from the audit log
	Goldens   Goldens               // optional: golden copies, which requests are served from
	Builder   GoldenBuilder         // optional: starts golden copy builds (/clone refresh)
	Masking   Masking               // optional: explain counts the columns the rules leave unclassified
	Metrics   prometheus.Registerer // optional: requests by tier and result
	Logger    *zap.Logger
	Now       func() time.Time
}

// New returns a Service. Every dependency is required but Reports, Masking and Metrics.
func New(d Deps) (*Service, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("handlers: Store is required")
	case d.Policy == nil:
		return nil, errors.New("handlers: Policy is required")
	case d.Catalogue == nil:
		return nil, errors.New("handlers: Catalogue is required")
	case d.Lifecycle == nil:
		return nil, errors.New("handlers: Lifecycle is required")
	case d.Directory == nil:
		return nil, errors.New("handlers: Directory is required")
	case d.Logger == nil:
		return nil, errors.New("handlers: Logger is required")
	case d.Now == nil:
		return nil, errors.New("handlers: Now is required")
	}
	s := &Service{store: d.Store, policy: d.Policy, catalogue: d.Catalogue, lifecycle: d.Lifecycle,
		dir: d.Directory, reports: d.Reports, goldens: d.Goldens, builder: d.Builder, masking: d.Masking, log: d.Logger, now: d.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_requests_total",
			Help: "Clone requests by tier and result: auto_approved, pending, refused (bad input or the policy), approved and denied (by votes), cancelled."},
			[]string{"tier", "result"})}
	if d.Metrics != nil {
		if err := d.Metrics.Register(s.requests); err != nil {
			return nil, fmt.Errorf("handlers: register metrics: %w", err)
		}
	}
	return s, nil
}

// Policy returns the policy the service applies (bot renders the request form from it).
func (s *Service) Policy() *approvals.Policy { return s.policy }

// Actor is who acts and where.
type Actor struct {
	User    string // Slack user ID, or a service identity of the policy ("service:<name>")
	Channel string // channel ID the command was typed in; "" for clicks, forms and the API
	Via     string // "api:<key id>" when the actor came through the REST API; "" from Slack
}

// by is who a change is recorded as made by, in the request's timeline and the audit log: the
// person, or the API key they acted through.
func (a Actor) by(u User) string {
	if a.Via != "" {
		return a.Via
	}
	return u.ID
}

// Reply is the answer for the person who acted, shown only to them. A refusal is not a Reply
// but an *Error.
type Reply struct {
	Text     string               // one plain-text sentence (the renderer escapes it)
	Lines    []string             // details, plain text
	Usage    []string             // command usage lines
	Requests []*approvals.Request // requests to list with their state and time left
	Timeline *approvals.Request   // one request to show with its timeline
	Confirm  *approvals.Request   // an approval of this request waits for the approver to confirm it in a modal

	// For callers that answer with data rather than text (the REST API); Slack shows the text.
	Request *approvals.Request   // the request made or changed, or (dry run) the one that would be made
	Backups []provisioner.Backup // backups listed, newest first
}

func said(format string, args ...any) Reply { return Reply{Text: fmt.Sprintf(format, args...)} }

// user looks the actor up: a service identity in the policy, anyone else in the directory.
func (s *Service) user(ctx context.Context, id string) (User, error) {
	if svc, ok := s.policy.ServiceIdentity(id); ok {
		return User{ID: id, Name: id, Team: svc.Team, Groups: svc.Groups}, nil
	}
	u, err := s.dir.User(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("look up user %s: %w", id, err)
	}
	return u, nil
}

// get loads a request, refusing a missing one.
func (s *Service) get(ctx context.Context, id string) (*approvals.Request, error) {
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		return nil, refuse(ENotFound, "There is no request %s; /clone list shows yours.", id)
	}
	return r, err
}

// mayManage reports whether u may extend, destroy or cancel r: its requester or an admin.
func (s *Service) mayManage(u User, r *approvals.Request) bool {
	return u.ID == r.Requester || s.policy.IsAdmin(u.ID, u.Groups)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// when writes a request's date: a day, or a point in time.
func when(r *approvals.Request) string {
	if r.PointInTime {
		return approvals.FormatTime(r.Date)
	}
	return day(r.Date)
}
