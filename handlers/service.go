package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	store     Store
	policy    *approvals.Policy
	catalogue Catalogue
	lifecycle Lifecycle
	dir       Directory
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
	Logger    *zap.Logger
	Now       func() time.Time
}

// New returns a Service. Every dependency is required.
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
	return &Service{store: d.Store, policy: d.Policy, catalogue: d.Catalogue, lifecycle: d.Lifecycle,
		dir: d.Directory, log: d.Logger, now: d.Now}, nil
}

// Policy returns the policy the service applies (bot renders the request form from it).
func (s *Service) Policy() *approvals.Policy { return s.policy }

// Actor is who acts and where.
type Actor struct {
	User    string // Slack user ID
	Channel string // channel ID the command was typed in; "" for clicks and forms
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
}

func said(format string, args ...any) Reply { return Reply{Text: fmt.Sprintf(format, args...)} }

// user looks the actor up.
func (s *Service) user(ctx context.Context, id string) (User, error) {
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
		return r.Date.UTC().Format("2006-01-02 15:04 MST")
	}
	return day(r.Date)
}
