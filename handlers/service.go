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
	notify    Notifier
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
	Notifier  Notifier
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
	case d.Notifier == nil:
		return nil, errors.New("handlers: Notifier is required")
	case d.Logger == nil:
		return nil, errors.New("handlers: Logger is required")
	case d.Now == nil:
		return nil, errors.New("handlers: Now is required")
	}
	return &Service{store: d.Store, policy: d.Policy, catalogue: d.Catalogue, lifecycle: d.Lifecycle,
		dir: d.Directory, notify: d.Notifier, log: d.Logger, now: d.Now}, nil
}

// Policy returns the policy the service applies (bot renders the request form from it).
func (s *Service) Policy() *approvals.Policy { return s.policy }

// Actor is who acts and where.
type Actor struct {
	User    string // Slack user ID
	Channel string // channel ID the command was typed in; "" for clicks and forms
}

// Reply is the answer for the person who acted, shown only to them.
type Reply struct {
	Refused  bool                 // bad input or a rule said no; nothing changed
	Text     string               // one plain-text sentence (the renderer escapes it)
	Lines    []string             // details, plain text
	Options  []string             // the valid choices, when the answer is "use one of these"
	Usage    []string             // command usage lines
	Requests []*approvals.Request // requests to list with their state and time left
	Timeline *approvals.Request   // one request to show with its timeline
}

func refused(format string, args ...any) Reply {
	return Reply{Refused: true, Text: fmt.Sprintf(format, args...)}
}

func said(format string, args ...any) Reply { return Reply{Text: fmt.Sprintf(format, args...)} }

// card re-renders r's card and records where it is if it was just posted. A failed
// notification is logged, never returned: the state change stands and the next change re-renders.
func (s *Service) card(ctx context.Context, r *approvals.Request) {
	ch, ts, err := s.notify.CardChanged(ctx, r)
	if err != nil {
		s.log.Warn("request card not updated", zap.String("request_id", r.ID), zap.Error(err))
		return
	}
	if r.MessageTS == "" && ts != "" {
		if err := s.store.SetMessage(ctx, r.ID, ch, ts); err != nil {
			s.log.Warn("request card position not stored", zap.String("request_id", r.ID), zap.Error(err))
			return
		}
		r.Channel, r.MessageTS = ch, ts
	}
}

// note adds a timeline line under r's card; failures are logged.
func (s *Service) note(ctx context.Context, r *approvals.Request, by, format string, args ...any) {
	if err := s.notify.ThreadNote(ctx, r, Note{By: by, Text: fmt.Sprintf(format, args...)}); err != nil {
		s.log.Warn("thread note not posted", zap.String("request_id", r.ID), zap.Error(err))
	}
}

// changed re-renders everything that shows r: its card, and the App Home of the requester
// and of anyone who voted.
func (s *Service) changed(ctx context.Context, r *approvals.Request) {
	s.card(ctx, r)
	users := []string{r.Requester}
	for _, v := range r.Votes {
		users = append(users, v.User)
	}
	s.notify.HomeChanged(ctx, users...)
}

// user looks the actor up.
func (s *Service) user(ctx context.Context, id string) (User, error) {
	u, err := s.dir.User(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("look up user %s: %w", id, err)
	}
	return u, nil
}

// get loads a request, answering a missing one as a refusal.
func (s *Service) get(ctx context.Context, id string) (*approvals.Request, *Reply, error) {
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		rep := refused("There is no request %s; /clone list shows yours.", id)
		return nil, &rep, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return r, nil, nil
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
