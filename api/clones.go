package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *call) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.health(ctx); err != nil {
		s.log.Warn("api health check failed", zap.Error(err))
		writeProblem(w, r, probUnavailable.with("clonebot cannot reach a service it needs; its operators see which in its logs."))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// backups answers GET /backups?source=&month=YYYY-MM.
func (s *Server) backups(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	source := q.Get("source")
	if !validName(source) {
		writeProblem(w, r, (&inputError{prob: probMalformed, field: "source", msg: "give ?source= one of the policy's sources"}).problem())
		return
	}
	var month time.Time
	if m := q.Get("month"); m != "" {
		var err error
		if month, err = time.Parse("2006-01", m); err != nil {
			writeProblem(w, r, (&inputError{prob: probMalformed, field: "month", msg: fmt.Sprintf("%q is not a month like 2024-05", m)}).problem())
			return
		}
	}
	rep, err := s.svc.Backups(r.Context(), c.actor, source, month)
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	writeJSON(w, http.StatusOK, backupsOf(source, rep.Backups))
}

// list answers GET /clones: the principal's active clones and pending requests, or with
// ?all=true (an admin key of an admin principal) everyone's.
func (s *Server) list(w http.ResponseWriter, r *http.Request, c *call) {
	all, ok := boolParam(w, r, "all")
	if !ok {
		return
	}
	if all && !c.key.Allows(apikey.ScopeAdmin) {
		writeProblem(w, r, probForbidden.with("Listing every clone needs a key with the admin scope."))
		return
	}
	rep, err := s.svc.List(r.Context(), c.actor, all)
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	now := s.clock.Now()
	v := listView{Clones: []cloneView{}}
	for _, req := range rep.Requests {
		v.Clones = append(v.Clones, viewOf(req, now))
	}
	writeJSON(w, http.StatusOK, v)
}

// create answers POST /clones: a dry run with ?dry_run=true, else a request, idempotent under
// an Idempotency-Key.
func (s *Server) create(w http.ResponseWriter, r *http.Request, c *call) {
	dry, ok := boolParam(w, r, "dry_run")
	if !ok {
		return
	}
	var body createBody
	if err := s.readBody(w, r, &body); err != nil {
		return
	}
	in, err := body.cloneInput(s.clock.Now())
	if err != nil {
		s.refuseInput(w, r, err)
		return
	}
	if dry {
		s.dryRun(w, r, c, in)
		return
	}
	if idem := r.Header.Get("Idempotency-Key"); idem != "" {
		s.createIdempotent(w, r, c, in, idem)
		return
	}
	ans, err := s.request(r.Context(), c, in)
	if err != nil {
		s.fail(w, r, err, probInvalid)
		return
	}
	ans.write(w)
}

func (s *Server) dryRun(w http.ResponseWriter, r *http.Request, c *call, in handlers.CloneInput) {
	rep, err := s.svc.Explain(r.Context(), c.actor, in)
	if err != nil {
		s.fail(w, r, err, probInvalid)
		return
	}
	writeJSON(w, http.StatusOK, dryRunView{DryRun: true, cloneView: viewOf(rep.Request, s.clock.Now()),
		Strategy: s.policy.Sources[in.Source].Strategy, Explain: rep.Lines})
}

// answer is a response made before it is written, so an idempotent attempt can keep it.
type answer struct {
	status   int
	location string
	body     []byte
}

func (a answer) write(w http.ResponseWriter) {
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	writeBody(w, a.status, a.body)
}

// request makes a clone request: 201 when it was approved at once, 202 when it waits for
// approval in Slack. A preset id that exists already (an attempt whose first owner is slow or
// died after making it) is answered with that request.
func (s *Server) request(ctx context.Context, c *call, in handlers.CloneInput) (answer, error) {
	rep, err := s.svc.RequestClone(ctx, c.actor, in)
	var e *handlers.Error
	if in.ID != "" && errors.As(err, &e) && e.Code == handlers.EConflict {
		ans, found, err := s.made(ctx, c, in.ID)
		if err == nil && !found {
			err = fmt.Errorf("request %s exists and then did not", in.ID)
		}
		return ans, err
	}
	if err != nil {
		return answer{}, err
	}
	return s.created(rep.Request)
}

// made answers with request id if this key made it; found is false if there is none.
func (s *Server) made(ctx context.Context, c *call, id string) (ans answer, found bool, err error) {
	st, err := s.svc.Status(ctx, c.actor, id)
	var e *handlers.Error
	if errors.As(err, &e) && e.Code == handlers.ENotFound {
		return answer{}, false, nil
	}
	if err != nil {
		return answer{}, false, err
	}
	if st.Timeline.Via != c.key.Actor() {
		return answer{}, false, fmt.Errorf("request %s exists but was not made by key %s", id, c.key.ID)
	}
	ans, err = s.created(st.Timeline)
	return ans, true, err
}

// created is the answer of a request made: 201, or 202 while it waits for approval.
func (s *Server) created(r *approvals.Request) (answer, error) {
	status := http.StatusCreated
	if r.Status == approvals.StatusPending {
		status = http.StatusAccepted
	}
	body, err := jsonBytes(viewOf(r, s.clock.Now()))
	if err != nil {
		return answer{}, err
	}
	return answer{status: status, location: clonePath(r.ID), body: body}, nil
}

// get answers GET /clones/{id}, holding the answer with ?wait= (at most MaxWait) until the
// clone is ready or has ended.
func (s *Server) get(w http.ResponseWriter, r *http.Request, c *call) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		var err error
		if wait, err = parseWait(v, s.cfg.MaxWait); err != nil {
			writeProblem(w, r, err.(*inputError).problem())
			return
		}
	}
	req, err := s.watch(r.Context(), c, id, wait)
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(req, s.clock.Now()))
}

// settled reports whether a request will not move on by itself soon: it is ready, being
// destroyed, or ended. Pending, approved, provisioning and restoring requests are worth
// waiting for.
func settled(st approvals.Status) bool {
	switch st {
	case approvals.StatusPending, approvals.StatusApproved, approvals.StatusProvisioning, approvals.StatusRestoring:
		return false
	}
	return true
}

// Backoff of a long poll's reads of the store: from pollMin, doubling to pollMax.
const (
	pollMin = 50 * time.Millisecond
	pollMax = time.Second
)

// watch reads request id until it is settled or wait has passed (or the request or the
// server ends), and returns it as last read.
func (s *Server) watch(ctx context.Context, c *call, id string, wait time.Duration) (*approvals.Request, error) {
	deadline := s.clock.Now().Add(wait)
	delay := pollMin
	for {
		rep, err := s.svc.Status(ctx, c.actor, id)
		if err != nil {
			return nil, err
		}
		left := deadline.Sub(s.clock.Now())
		if settled(rep.Timeline.Status) || left <= 0 {
			return rep.Timeline, nil
		}
		select {
		case <-s.clock.After(min(delay, left)):
		case <-ctx.Done():
			return rep.Timeline, nil
		}
		delay = min(2*delay, pollMax)
	}
}

// parseWait reads ?wait=: a duration (60s, 1m) or whole seconds (60), at most max.
func parseWait(v string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, &inputError{prob: probMalformed, field: "wait", msg: fmt.Sprintf("%q is not a wait like 60s", v)}
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > max {
		return 0, &inputError{prob: probMalformed, field: "wait", msg: fmt.Sprintf("wait is between 0s and %ds", int(max/time.Second))}
	}
	return d, nil
}

// patch answers PATCH /clones/{id}: more time, or a new time left (sooner or later).
func (s *Server) patch(w http.ResponseWriter, r *http.Request, c *call) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var body patchBody
	if err := s.readBody(w, r, &body); err != nil {
		return
	}
	p, err := body.patch()
	if err != nil {
		s.refuseInput(w, r, err)
		return
	}
	var rep handlers.Reply
	if p.ExtendBy > 0 {
		rep, err = s.svc.Extend(r.Context(), c.actor, id, p.ExtendBy)
	} else {
		rep, err = s.svc.ExpireIn(r.Context(), c.actor, id, p.ExpiresIn)
	}
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(rep.Request, s.clock.Now()))
}

// delete answers DELETE /clones/{id}: a pending request is withdrawn (200), a clone is
// destroyed (202: the lifecycle tears it down; GET shows when it is gone).
func (s *Server) delete(w http.ResponseWriter, r *http.Request, c *call) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	st, err := s.svc.Status(r.Context(), c.actor, id)
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	cancel := st.Timeline.Status == approvals.StatusPending
	rep, err := s.end(r.Context(), c, id, cancel)
	var e *handlers.Error
	if errors.As(err, &e) && e.Code == handlers.EConflict {
		// decided meanwhile (approved before the cancel, or still pending at the destroy)
		cancel = !cancel
		rep, err = s.end(r.Context(), c, id, cancel)
	}
	if err != nil {
		s.fail(w, r, err, probNotFound)
		return
	}
	status := http.StatusAccepted
	if cancel {
		status = http.StatusOK
	}
	req := rep.Request
	if req == nil || req.Status != approvals.StatusCancelled && req.Status != approvals.StatusDestroying {
		// already being destroyed: show it as it is
		if st, err = s.svc.Status(r.Context(), c.actor, id); err != nil {
			s.fail(w, r, err, probNotFound)
			return
		}
		req = st.Timeline
	}
	writeJSON(w, status, viewOf(req, s.clock.Now()))
}

func (s *Server) end(ctx context.Context, c *call, id string, cancel bool) (handlers.Reply, error) {
	if cancel {
		return s.svc.Cancel(ctx, c.actor, id)
	}
	return s.svc.Destroy(ctx, c.actor, id)
}

// boolParam reads the query parameter name: true or false, false when absent. A bad value is
// answered here (ok false).
func boolParam(w http.ResponseWriter, r *http.Request, name string) (v, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		writeProblem(w, r, (&inputError{prob: probMalformed, field: name, msg: name + " is true or false"}).problem())
		return false, false
	}
	return v, true
}

// pathID reads {id}; one that cannot be a request id is not found.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !approvals.ValidID(id) {
		writeProblem(w, r, probNotFound.with(fmt.Sprintf("%q is not a clone id (they look like cl-7f3k2q).", id)))
		return "", false
	}
	return id, true
}

// readBody reads a JSON body into v, answering the refusal itself when it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, v any) error {
	err := readJSON(r, s.cfg.MaxBodyBytes, v)
	if err != nil {
		s.refuseInput(w, r, err)
	}
	return err
}

// refuseInput answers a body the API refuses before any use case sees it.
func (s *Server) refuseInput(w http.ResponseWriter, r *http.Request, err error) {
	var ie *inputError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ie):
		writeProblem(w, r, ie.problem())
	case errors.As(err, &tooLarge):
		writeProblem(w, r, probTooLarge.with(fmt.Sprintf("The body is over %d bytes.", tooLarge.Limit)))
	case errors.Is(err, errUnsupportedMediaType):
		writeProblem(w, r, probMediaType.with("Send the body as Content-Type: application/json."))
	default:
		s.fail(w, r, fmt.Errorf("read body: %w", err), probNotFound)
	}
}
