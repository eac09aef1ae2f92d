package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode envelope types.
const (
	EnvelopeHello         = "hello"
	EnvelopeDisconnect    = "disconnect"
	EnvelopeSlashCommands = "slash_commands"
	EnvelopeInteractive   = "interactive"
	EnvelopeEventsAPI     = "events_api"
)

// wsConn is one Socket Mode connection; writes are serialised by mu.
type wsConn struct {
	mu   sync.Mutex
	c    *websocket.Conn
	done chan struct{}
	once sync.Once
}

func (w *wsConn) write(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.WriteMessage(websocket.TextMessage, msg)
}

// close drops the TCP connection without a close handshake, as a network failure would.
func (w *wsConn) close() {
	w.once.Do(func() { close(w.done) })
	_ = w.c.NetConn().Close()
}

// Deliver sends a Socket Mode envelope of envelopeType with payload (marshalled to JSON;
// json.RawMessage and []byte are sent as they are) to the newest connection, or queues it
// until a connection says hello. It returns the envelope ID, or "" for hello and
// disconnect, which carry none.
func (s *Server) Deliver(envelopeType string, payload any) string {
	env := map[string]any{"type": envelopeType}
	var id string
	switch envelopeType {
	case EnvelopeHello:
		env["num_connections"] = 1
		env["connection_info"] = map[string]any{"app_id": AppID}
		env["debug_info"] = map[string]any{"host": "fake"}
	case EnvelopeDisconnect:
		env["reason"] = "refresh_requested"
		env["debug_info"] = map[string]any{"host": "fake"}
	default:
		s.mu.Lock()
		s.envelopeSeq++
		id = fmt.Sprintf("env-%06d", s.envelopeSeq)
		s.mu.Unlock()
		env["envelope_id"] = id
		env["payload"] = rawJSON(payload)
		env["accepts_response_payload"] = envelopeType != EnvelopeEventsAPI
		env["retry_attempt"] = 0
		env["retry_reason"] = ""
	}
	msg, err := json.Marshal(env)
	if err != nil {
		panic(fmt.Sprintf("slackfake: envelope payload does not marshal: %v", err))
	}

	s.mu.Lock()
	var conn *wsConn
	if n := len(s.conns); n > 0 {
		conn = s.conns[n-1]
	} else {
		s.pending = append(s.pending, msg)
	}
	s.mu.Unlock()
	if conn != nil && conn.write(msg) != nil {
		s.mu.Lock()
		s.pending = append(s.pending, msg)
		s.mu.Unlock()
	}
	return id
}

func rawJSON(v any) json.RawMessage {
	switch p := v.(type) {
	case json.RawMessage:
		return p
	case []byte:
		return p
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("slackfake: envelope payload does not marshal: %v", err))
	}
	return b
}

// Drop closes every Socket Mode connection abruptly (no close frame), as a network failure
// would.
func (s *Server) Drop() {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Connections returns how many Socket Mode connections were opened (and greeted with hello)
// so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// WaitConnections blocks until at least n Socket Mode connections were opened.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	if err := s.wait(ctx, func() bool { return s.connections >= n }); err != nil {
		return fmt.Errorf("wait for %d socket connections (have %d): %w", n, s.Connections(), err)
	}
	return nil
}

// Acks returns every Socket Mode acknowledgement received, in arrival order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// WaitAck blocks until the envelope envelopeID was acknowledged and returns the ack.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var ack Ack
	err := s.wait(ctx, func() bool {
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				ack = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("wait for ack of %s: %w", envelopeID, err)
	}
	return ack, nil
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	c, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	conn := &wsConn{c: c, done: make(chan struct{})}

	// step 1: greet, then flush what was delivered while no connection was up; the write
	// lock is held throughout so a concurrent Deliver cannot overtake hello.
	hello, _ := json.Marshal(map[string]any{"type": EnvelopeHello, "num_connections": 1,
		"connection_info": map[string]any{"app_id": AppID}, "debug_info": map[string]any{"host": "fake"}})
	conn.mu.Lock()
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.conns = append(s.conns, conn)
	s.connections++
	s.notifyLocked()
	s.mu.Unlock()
	werr := c.WriteMessage(websocket.TextMessage, hello)
	for _, msg := range pending {
		if werr == nil {
			werr = c.WriteMessage(websocket.TextMessage, msg)
		}
	}
	conn.mu.Unlock()

	// step 2: ping, as Slack does, so the client's dead-connection timer stays quiet.
	go s.ping(conn)

	// step 3: record acks until the connection ends.
	for werr == nil {
		_, msg, err := c.ReadMessage()
		if err != nil {
			break
		}
		var ack Ack
		if json.Unmarshal(msg, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		s.mu.Lock()
		s.acks = append(s.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
	}

	conn.close()
	s.mu.Lock()
	for i, x := range s.conns {
		if x == conn {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
}

func (s *Server) ping(conn *wsConn) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		if conn.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) != nil {
			return
		}
		select {
		case <-conn.done:
			return
		case <-t.C:
		}
	}
}
