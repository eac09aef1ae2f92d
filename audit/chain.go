package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// formatTag opens the canonical form; a new form would get a new tag.
const formatTag = "clonebot-audit/1"

// Hash is a SHA-256 digest of the chain.
type Hash [sha256.Size]byte

// String is the hash in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(h))
	}
	copy(h[:], b)
	return h, nil
}

// Record is one row of the log: an event at its place in the chain.
type Record struct {
	Seq int64
	Event
	Prev Hash // the hash of row Seq-1 when the row was written (zero for row 1)
	Hash Hash // ChainHash(Prev, Event)
}

// Intact reports whether the row's hash matches its prev and its content.
func (r Record) Intact() bool { return ChainHash(r.Prev, r.Event) == r.Hash }

// Canonical returns the bytes of e that the chain hashes (see the package documentation). e
// should be normalized (Normalize) first; the log stores only normalized events.
func Canonical(e Event) []byte {
	keys := make([]string, 0, len(e.Details))
	size := len(formatTag) + 4*(13+2*len(e.Details)) + 24
	for k, v := range e.Details {
		keys = append(keys, k)
		size += len(k) + len(v)
	}
	slices.Sort(keys)
	for _, s := range []string{e.ID, e.RequestID, e.Actor, e.ActorName, e.Action, e.Tier, e.Source, e.Channel} {
		size += len(s)
	}
	b := make([]byte, 0, size)
	field := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	field(formatTag)
	field(e.ID)
	field(strconv.FormatInt(e.At.UnixMicro(), 10))
	for _, s := range []string{e.RequestID, e.Actor, e.ActorName, e.Action, e.Tier, e.Source, e.Channel} {
		field(s)
	}
	field(strconv.Itoa(len(keys)))
	for _, k := range keys {
		field(k)
		field(e.Details[k])
	}
	return b
}

// ChainHash is SHA-256(prev || Canonical(e)).
func ChainHash(prev Hash, e Event) Hash {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(Canonical(e))
	var out Hash
	h.Sum(out[:0])
	return out
}

// Head is a position in the chain: a row's sequence number and hash. The chain's newest one,
// published outside the database, is an anchor.
type Head struct {
	Seq  int64
	Hash Hash
}

// String is "seq:hash", the form `clonebot audit verify --anchor` reads.
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.Hash.String() }

// ErrBadAnchor is returned for an anchor that is not "seq:hash".
var ErrBadAnchor = errors.New("an anchor is seq:hash, e.g. 1234:9f86d081…(64 hex digits)")

// ParseAnchor reads "seq:hash" (as Head.String writes it).
func ParseAnchor(s string) (Head, error) {
	seqText, hashText, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Head{}, fmt.Errorf("anchor %q: %w", s, ErrBadAnchor)
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 1 {
		return Head{}, fmt.Errorf("anchor %q: sequence number must be a positive integer: %w", s, ErrBadAnchor)
	}
	h, err := ParseHash(strings.ToLower(hashText))
	if err != nil {
		return Head{}, fmt.Errorf("anchor %q: %v: %w", s, err, ErrBadAnchor)
	}
	return Head{Seq: seq, Hash: h}, nil
}

// Link computes the rows that events make when appended after head: sequence numbers head.Seq+1,
// …, each hashed onto the one before. Events must be normalized.
func Link(head Head, events []Event) []Record {
	out := make([]Record, len(events))
	prev := head.Hash
	for i, e := range events {
		out[i] = Record{Seq: head.Seq + int64(i) + 1, Event: e, Prev: prev, Hash: ChainHash(prev, e)}
		prev = out[i].Hash
	}
	return out
}
