package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Team and bot identity the fake answers with.
const (
	TeamID   = "T0FAKE"
	AppID    = "A0FAKE"
	BotID    = "B0FAKE"
	BotUser  = "U0CLONEBOT"
	teamName = "fake"
)

// MethodResponseURL is the Call.Method of a POST to a response_url the fake handed out.
const MethodResponseURL = "response_url"

// Call is one request the fake received.
type Call struct {
	Method string          // Web API method ("chat.postMessage") or MethodResponseURL
	Token  string          // bearer or form token; empty for response_url posts
	Params url.Values      // form or query parameters, without the token
	JSON   json.RawMessage // the JSON body, if the request had one
	URL    string          // the full URL posted to (set for response_url posts)
	Status int             // HTTP status the fake answered (429 and 500 when a fault was injected)
}

// Param returns a parameter by name: the form value, else the top-level JSON field (a
// string as is, anything else as its JSON text).
func (c Call) Param(name string) string {
	if v, ok := c.Params[name]; ok && len(v) > 0 {
		return v[0]
	}
	if len(c.JSON) == 0 {
		return ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(c.JSON, &top) != nil {
		return ""
	}
	raw, ok := top[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Message is a message the bot posted, in its latest state (after any chat.update).
type Message struct {
	Channel   string
	TS        string
	ThreadTS  string
	Text      string
	Blocks    json.RawMessage
	Ephemeral bool   // posted with chat.postEphemeral
	User      string // the ephemeral message's recipient
	Updates   int    // how many chat.update calls changed it
}

// Ack is a Socket Mode acknowledgement the bot sent.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock trigger_ids expire by (default time.Now): a test that wants a stale
// trigger moves its clock past TriggerTTL instead of waiting.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// TriggerTTL is how long a trigger_id can open a view: Slack's three seconds.
const TriggerTTL = 3 * time.Second

// WithPingInterval sets how often the fake pings each Socket Mode connection (default 5s;
// slack-go drops a connection that is not pinged for 30s).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// Server is the fake Slack. Create it with New; it is closed with the test (t.Cleanup) or
// by Close.
type Server struct {
	srv          *httptest.Server
	pingInterval time.Duration
	now          func() time.Time // the clock trigger_ids expire by
	upgrader     websocket.Upgrader

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced whenever recorded state changes
	calls       []Call
	users       map[string]slack.User
	groups      []slack.UserGroup
	channels    map[string]slack.Channel
	messages    []*Message
	homeViews   map[string]json.RawMessage
	tsMicros    int64
	faults      map[string][]fault
	writeDelay  time.Duration // how long every write method takes to answer
	responseSeq int
	envelopeSeq int
	viewSeq     int
	triggers    map[string]*trigger // by trigger_id
	conns       []*wsConn           // live Socket Mode connections, newest last
	connections int                 // connections that were sent hello
	pending     [][]byte            // envelopes waiting for a connection
	acks        []Ack
}

// New starts a fake Slack on loopback.
func New(opts ...Option) *Server {
	s := &Server{
		pingInterval: 5 * time.Second,
		now:          time.Now,
		changed:      make(chan struct{}),
		triggers:     map[string]*trigger{},
		users:        map[string]slack.User{},
		channels:     map[string]slack.Channel{},
		homeViews:    map[string]json.RawMessage{},
		faults:       map[string][]fault{},
	}
	// slack-go dials with Origin https://api.slack.com, which the default check refuses.
	s.upgrader.CheckOrigin = func(*http.Request) bool { return true }
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.serveAPI)
	mux.HandleFunc("GET /api/{method}", s.serveAPI)
	mux.HandleFunc("POST /response/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /socket", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close drops every Socket Mode connection and stops the server.
func (s *Server) Close() {
	s.Drop()
	s.srv.Close()
}

// APIURL is the Web API base URL, for slack.OptionAPIURL (it ends with a slash).
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// AddUser seeds a user for users.info. TeamID defaults to the fake team.
func (s *Server) AddUser(u slack.User) {
	if u.TeamID == "" {
		u.TeamID = TeamID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddUserGroup seeds a user group (id such as "S0ONCALL", handle such as "oncall") and its
// members, for usergroups.list and usergroups.users.list.
func (s *Server) AddUserGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := slack.UserGroup{ID: id, TeamID: TeamID, IsUserGroup: true, Name: handle, Handle: handle,
		UserCount: len(members), Users: append([]string(nil), members...)}
	for i := range s.groups {
		if s.groups[i].ID == id {
			s.groups[i] = g
			return
		}
	}
	s.groups = append(s.groups, g)
}

// AddChannel seeds a channel for conversations.info.
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ch slack.Channel
	ch.ID, ch.Name, ch.IsChannel, ch.IsMember = id, name, true, true
	s.channels[id] = ch
}

// writeMethods are the Web API methods that write: SlowWrites delays them.
var writeMethods = map[string]bool{"chat.postMessage": true, "chat.update": true, "chat.postEphemeral": true,
	"views.publish": true, "views.open": true}

// SlowWrites makes every write method take d to answer, as a slow or distant Slack would.
func (s *Server) SlowWrites(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDelay = d
}

// RateLimitNext makes the next n calls of method answer 429 with a Retry-After header of
// retryAfter (whole seconds, as Slack sends it).
func (s *Server) RateLimitNext(method string, n int, retryAfter time.Duration) {
	s.addFaults(method, n, fault{status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

// ServerErrorNext makes the next n calls of method answer 500.
func (s *Server) ServerErrorNext(method string, n int) {
	s.addFaults(method, n, fault{status: http.StatusInternalServerError})
}

func (s *Server) addFaults(method string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], f)
	}
}

// NewResponseURL hands out a fresh response_url on this fake; posts to it are recorded as
// calls with Method MethodResponseURL.
func (s *Server) NewResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responseSeq++
	return fmt.Sprintf("%s/response/%d", s.srv.URL, s.responseSeq)
}

// Calls returns every recorded call, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the recorded calls of one method (or MethodResponseURL).
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsTo(method)
}

func (s *Server) callsTo(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Responses returns the posts to one response_url.
func (s *Server) Responses(responseURL string) []Call {
	var out []Call
	for _, c := range s.CallsTo(MethodResponseURL) {
		if c.URL == responseURL {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls blocks until at least n calls of method were recorded and returns them all, or
// returns the context's error.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	var out []Call
	err := s.wait(ctx, func() bool {
		out = s.callsTo(method)
		return len(out) >= n
	})
	if err != nil {
		return nil, fmt.Errorf("wait for %d %s calls (have %d): %w", n, method, len(s.CallsTo(method)), err)
	}
	return out, nil
}

// Messages returns the messages posted so far, in posting order, in their latest state.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages))
	for _, m := range s.messages {
		out = append(out, *m)
	}
	return out
}

// Message returns the message posted in channel at ts, in its latest state.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findMessage(channel, ts); m != nil {
		return *m, true
	}
	return Message{}, false
}

// HomeView returns the last view published to a user's App Home.
func (s *Server) HomeView(userID string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.homeViews[userID]
	return v, ok
}

// AllPayloads returns the text of everything the bot sent to the fake (parameters, JSON
// bodies, response_url posts, Socket Mode ack payloads), without the authentication tokens
// the Web API needs, for tests that scan for leaked secrets.
func (s *Server) AllPayloads() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, c := range s.calls {
		fmt.Fprintf(&b, "%s %s %s\n", c.Method, c.Params.Encode(), c.JSON)
	}
	for _, a := range s.acks {
		fmt.Fprintf(&b, "ack %s %s\n", a.EnvelopeID, a.Payload)
	}
	return b.String()
}

// wait blocks until cond (called with s.mu held) is true or ctx ends.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyLocked wakes every waiter; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextTSLocked returns a unique, strictly increasing Slack timestamp.
func (s *Server) nextTSLocked() string {
	s.tsMicros += 100
	return fmt.Sprintf("%d.%06d", 1700000000+s.tsMicros/1_000_000, s.tsMicros%1_000_000)
}

func (s *Server) findMessage(channel, ts string) *Message {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

// readCall turns a request into a Call (without Method and Status).
func readCall(r *http.Request) (Call, error) {
	var c Call
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return c, err
	}
	c.Params = url.Values{}
	for k, v := range r.URL.Query() {
		c.Params[k] = v
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if len(body) > 0 {
			c.JSON = json.RawMessage(body)
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return c, err
		}
		for k, v := range form {
			c.Params[k] = v
		}
	}
	c.Token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if t := c.Params.Get("token"); t != "" {
		c.Token = t
	}
	c.Params.Del("token")
	return c, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	call, err := readCall(r)
	call.Method = r.PathValue("method")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	s.mu.Lock()
	delay := s.writeDelay
	s.mu.Unlock()
	if delay > 0 && writeMethods[call.Method] {
		select { // a slow Slack: the write is done, and answered, only after delay
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()

	if fs := s.faults[call.Method]; len(fs) > 0 {
		f := fs[0]
		s.faults[call.Method] = fs[1:]
		call.Status = f.status
		s.calls = append(s.calls, call)
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
			writeJSON(w, f.status, map[string]any{"ok": false, "error": "ratelimited"})
			return
		}
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, "<html>fake server error</html>")
		return
	}
	call.Status = http.StatusOK
	s.calls = append(s.calls, call)
	if call.Token == "" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "not_authed"})
		return
	}
	writeJSON(w, http.StatusOK, s.answerLocked(call))
}

// answerLocked computes a Web API method's response body; s.mu must be held.
func (s *Server) answerLocked(c Call) map[string]any {
	fail := func(code string) map[string]any { return map[string]any{"ok": false, "error": code} }
	ok := func(kv ...any) map[string]any {
		out := map[string]any{"ok": true}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	switch c.Method {
	case "chat.postMessage", "chat.postEphemeral":
		channel := c.Param("channel")
		if channel == "" {
			return fail("channel_not_found")
		}
		m := &Message{Channel: channel, TS: s.nextTSLocked(), ThreadTS: c.Param("thread_ts"),
			Text: c.Param("text"), Blocks: rawOrNil(c.Param("blocks"))}
		if c.Method == "chat.postEphemeral" {
			m.Ephemeral, m.User = true, c.Param("user")
			s.messages = append(s.messages, m)
			return ok("message_ts", m.TS)
		}
		s.messages = append(s.messages, m)
		return ok("channel", channel, "ts", m.TS,
			"message", map[string]any{"text": m.Text, "ts": m.TS, "thread_ts": m.ThreadTS, "bot_id": BotID})
	case "chat.update":
		m := s.findMessage(c.Param("channel"), c.Param("ts"))
		if m == nil {
			return fail("message_not_found")
		}
		m.Text, m.Updates = c.Param("text"), m.Updates+1
		if b := c.Param("blocks"); b != "" {
			m.Blocks = rawOrNil(b)
		}
		return ok("channel", m.Channel, "ts", m.TS, "text", m.Text)
	case "views.open", "views.publish":
		var req struct {
			UserID string          `json:"user_id"`
			View   json.RawMessage `json:"view"`
		}
		if json.Unmarshal(c.JSON, &req) != nil || len(req.View) == 0 {
			return fail("invalid_arguments")
		}
		if c.Method == "views.open" {
			if code := s.useTriggerLocked(c.Param("trigger_id")); code != "" {
				return fail(code)
			}
		}
		if c.Method == "views.publish" {
			s.homeViews[req.UserID] = req.View
		}
		var view map[string]any
		if json.Unmarshal(req.View, &view) != nil {
			return fail("invalid_arguments")
		}
		s.viewSeq++
		view["id"] = fmt.Sprintf("V%08d", s.viewSeq)
		view["team_id"] = TeamID
		return ok("view", view)
	case "usergroups.list":
		return ok("usergroups", s.groups)
	case "usergroups.users.list":
		for _, g := range s.groups {
			if g.ID == c.Param("usergroup") {
				return ok("users", g.Users)
			}
		}
		return fail("no_such_subteam")
	case "users.info":
		u, found := s.users[c.Param("user")]
		if !found {
			return fail("user_not_found")
		}
		return ok("user", u)
	case "conversations.info":
		ch, found := s.channels[c.Param("channel")]
		if !found {
			return fail("channel_not_found")
		}
		return ok("channel", ch)
	case "auth.test":
		return ok("url", "https://"+teamName+".slack.com/", "team", teamName, "user", "clonebot",
			"team_id", TeamID, "user_id", BotUser, "bot_id", BotID)
	case "apps.connections.open":
		return ok("url", "ws"+strings.TrimPrefix(s.srv.URL, "http")+"/socket")
	default:
		return fail("unknown_method")
	}
}

// trigger is a trigger_id the fake handed out.
type trigger struct {
	issued time.Time
	used   bool
}

// useTriggerLocked spends a trigger_id as Slack does: once, within TriggerTTL of the
// interaction that carried it. It returns Slack's error code, or "" when the trigger is good.
func (s *Server) useTriggerLocked(id string) string {
	t, ok := s.triggers[id]
	switch {
	case !ok:
		return "invalid_trigger_id"
	case t.used:
		return "exchanged_trigger_id"
	case s.now().Sub(t.issued) > TriggerTTL:
		return "expired_trigger_id"
	}
	t.used = true
	return ""
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	call, err := readCall(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	call.Method, call.URL, call.Status, call.Token = MethodResponseURL, s.srv.URL+r.URL.Path, http.StatusOK, ""
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
