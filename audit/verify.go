package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ChainReader reads the chain for Verify.
type ChainReader interface {
	// Scan calls fn with every row in ascending sequence order; an error from fn stops the scan
	// and is returned.
	Scan(ctx context.Context, fn func(Record) error) error
	// SeqOfHash returns the sequence number of a row whose hash is h (false if none).
	SeqOfHash(ctx context.Context, h Hash) (int64, bool, error)
	// SeqOfPrev returns the lowest sequence number above after of a row whose prev is h (false if none).
	SeqOfPrev(ctx context.Context, h Hash, after int64) (int64, bool, error)
}

// Kind is what was done to the chain.
type Kind string

const (
	KindChanged        Kind = "changed"              // the row's content (or its hash) no longer matches its hash
	KindRehashed       Kind = "changed and rehashed" // the row was changed and its hash recomputed: the next row links to its old hash
	KindDeleted        Kind = "deleted"              // rows are missing
	KindInserted       Kind = "inserted"             // a row that the chain does not link through
	KindReordered      Kind = "reordered"            // the row that belongs here is elsewhere
	KindRenumbered     Kind = "renumbered"           // the links hold but the sequence numbers skip
	KindTailCut        Kind = "tail cut"             // the chain ends below an anchor
	KindAnchorMismatch Kind = "anchor mismatch"      // the row at an anchor's sequence number has another hash
)

// ErrTampered matches every *TamperError.
var ErrTampered = errors.New("audit chain tampered")

// TamperError names the first row where the chain is not what was written.
type TamperError struct {
	Kind   Kind
	Seq    int64  // the row named
	Detail string // what was found, in words
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit chain: seq %d %s: %s", e.Seq, e.Kind, e.Detail)
}

// Is makes errors.Is(err, ErrTampered) match.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// Verified is a chain that verified.
type Verified struct {
	Rows    int64
	Head    Head // the newest row (zero for an empty chain)
	Anchors int  // anchors checked
}

// Verify walks the chain from row 1 and returns the first row changed, deleted, inserted or
// reordered as a *TamperError (errors.Is ErrTampered), or, when every row holds, checks the
// anchors: a chain that ends below an anchor's sequence number has had its tail cut, and a row
// whose hash differs from an anchor's was rewritten with its successors. Other errors are the
// reader's.
//
// A row is checked against the row before it and, to tell a changed row from an inserted one,
// the row after it: its own hash (content), its link (prev is the hash of the row before) and its
// number (one more than the row before).
func Verify(ctx context.Context, c ChainReader, anchors ...Head) (Verified, error) {
	v := &verifier{ctx: ctx, c: c, anchors: map[int64]Hash{}}
	for _, a := range anchors {
		if h, ok := v.anchors[a.Seq]; ok && h != a.Hash {
			return Verified{}, fmt.Errorf("two anchors for seq %d disagree: %w", a.Seq, ErrBadAnchor)
		}
		v.anchors[a.Seq] = a.Hash
	}
	var pending *Record
	err := c.Scan(ctx, func(r Record) error {
		if pending != nil {
			if err := v.check(*pending, &r); err != nil {
				return err
			}
		}
		pending = &r
		return nil
	})
	if err == nil && pending != nil {
		err = v.check(*pending, nil)
	}
	if err != nil {
		return Verified{}, err
	}
	// step: anchors past the end of the chain.
	seqs := make([]int64, 0, len(v.anchors))
	for s := range v.anchors {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		if s > v.head.Seq {
			return Verified{}, &TamperError{Kind: KindTailCut, Seq: v.head.Seq + 1,
				Detail: fmt.Sprintf("the chain ends at seq %d but an anchor names seq %d: rows %d–%d were removed", v.head.Seq, s, v.head.Seq+1, s)}
		}
	}
	return Verified{Rows: v.head.Seq, Head: v.head, Anchors: len(v.anchors)}, nil
}

type verifier struct {
	ctx        context.Context
	c          ChainReader
	anchors    map[int64]Hash
	head       Head  // the last row that held (Seq 0 and the zero hash before row 1)
	lastAnchor int64 // the last anchor that matched
}

// check checks r, the row after v.head; next is the row after r (nil at the end).
func (v *verifier) check(r Record, next *Record) error {
	want, prev := v.head.Seq+1, v.head.Hash
	intact, linked := r.Intact(), r.Prev == prev
	switch {
	case r.Seq < want:
		return &TamperError{Kind: KindInserted, Seq: r.Seq, Detail: fmt.Sprintf("the chain starts at seq 1; seq %d comes before it", r.Seq)}

	case r.Seq > want:
		if m, ok, err := v.c.SeqOfPrev(v.ctx, prev, v.head.Seq); err != nil {
			return err
		} else if ok && m == r.Seq && intact {
			return &TamperError{Kind: KindRenumbered, Seq: want, Detail: fmt.Sprintf("seq %d follows seq %d in the chain but the numbers skip %d–%d", r.Seq, v.head.Seq, want, r.Seq-1)}
		} else if ok {
			return &TamperError{Kind: KindReordered, Seq: want, Detail: fmt.Sprintf("the row that follows seq %d is at seq %d", v.head.Seq, m)}
		}
		return &TamperError{Kind: KindDeleted, Seq: want, Detail: fmt.Sprintf("%s missing: the chain goes from seq %d to seq %d", span(want, r.Seq-1), v.head.Seq, r.Seq)}

	case !intact:
		if next != nil && next.Prev == prev && next.Seq == r.Seq+1 {
			return &TamperError{Kind: KindInserted, Seq: r.Seq, Detail: fmt.Sprintf("seq %d links to seq %d: the row between them was not written by the chain", next.Seq, v.head.Seq)}
		}
		return &TamperError{Kind: KindChanged, Seq: r.Seq, Detail: "its content or hash does not match its hash"}

	case !linked:
		return v.unlinked(r)
	}
	if h, ok := v.anchors[r.Seq]; ok {
		if h != r.Hash {
			since := "the start"
			if v.lastAnchor > 0 {
				since = fmt.Sprintf("the anchor at seq %d", v.lastAnchor)
			}
			return &TamperError{Kind: KindAnchorMismatch, Seq: r.Seq,
				Detail: fmt.Sprintf("the anchor says %s, the chain %s: a row after %s was changed and every hash after it recomputed", h, r.Hash, since)}
		}
		v.lastAnchor = r.Seq
	}
	v.head = Head{Seq: r.Seq, Hash: r.Hash}
	return nil
}

// unlinked names what happened when r is intact and numbered right but does not link to the row
// before it.
func (v *verifier) unlinked(r Record) error {
	if r.Seq == 1 {
		return &TamperError{Kind: KindDeleted, Seq: 1, Detail: "row 1 links to a row before it: the first rows were deleted and the rest renumbered"}
	}
	// step 1: r links to an earlier row: the rows between were inserted.
	j, ok, err := v.c.SeqOfHash(v.ctx, r.Prev)
	if err != nil {
		return err
	}
	if ok && j < v.head.Seq {
		return &TamperError{Kind: KindInserted, Seq: j + 1, Detail: fmt.Sprintf("seq %d links to seq %d, skipping %s", r.Seq, j, span(j+1, v.head.Seq))}
	}
	// step 2: the row that belongs here is further on, or r belongs further on.
	m, found, err := v.c.SeqOfPrev(v.ctx, v.head.Hash, r.Seq)
	if err != nil {
		return err
	}
	if found {
		return &TamperError{Kind: KindReordered, Seq: r.Seq, Detail: fmt.Sprintf("the row that follows seq %d is at seq %d", v.head.Seq, m)}
	}
	if ok && j > r.Seq {
		return &TamperError{Kind: KindReordered, Seq: r.Seq, Detail: fmt.Sprintf("seq %d belongs after seq %d", r.Seq, j)}
	}
	// step 3: the row before was rewritten with a new hash (or rows between were deleted and the
	// rest renumbered, which looks the same).
	return &TamperError{Kind: KindRehashed, Seq: v.head.Seq, Detail: fmt.Sprintf(
		"seq %d links to another hash than seq %d has: seq %d was changed and its hash recomputed (or rows after it were deleted and the rest renumbered)",
		r.Seq, v.head.Seq, v.head.Seq)}
}

func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("seq %d", from)
	}
	return fmt.Sprintf("seq %d–%d", from, to)
}
