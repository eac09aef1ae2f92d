package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// memChain is a ChainReader over rows in memory (the PostgreSQL one is tested in pgstore).
type memChain []Record

func (m memChain) sorted() []Record {
	rows := slices.Clone(m)
	slices.SortFunc(rows, func(a, b Record) int { return int(a.Seq - b.Seq) })
	return rows
}

func (m memChain) Scan(_ context.Context, fn func(Record) error) error {
	for _, r := range m.sorted() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m memChain) SeqOfHash(_ context.Context, h Hash) (int64, bool, error) {
	for _, r := range m.sorted() {
		if r.Hash == h {
			return r.Seq, true, nil
		}
	}
	return 0, false, nil
}

func (m memChain) SeqOfPrev(_ context.Context, h Hash, after int64) (int64, bool, error) {
	for _, r := range m.sorted() {
		if r.Prev == h && r.Seq > after {
			return r.Seq, true, nil
		}
	}
	return 0, false, nil
}

// testChain is n rows of plausible events.
func testChain(n int) memChain {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	events := make([]Event, n)
	for i := range events {
		events[i] = Normalize(Event{ID: fmt.Sprintf("%d-0", 1000+i), Action: "voted", RequestID: fmt.Sprintf("cl-%06d", i/3),
			Actor: "U1", At: t0.Add(time.Duration(i) * time.Second), Details: map[string]string{"decision": "approve"}})
	}
	return memChain(Link(Head{}, events))
}

// forged is a row an attacker writes at seq, linked after prev, with a correct hash.
func forged(seq int64, prev Hash) Record {
	e := Normalize(Event{ID: "forged", Action: "approved", RequestID: "cl-forged", Actor: "U666", At: time.Unix(1_700_000_500, 0)})
	return Record{Seq: seq, Event: e, Prev: prev, Hash: ChainHash(prev, e)}
}

func renumber(m memChain, from int64, by int64) {
	for i := range m {
		if m[i].Seq >= from {
			m[i].Seq += by
		}
	}
}

func without(m memChain, seq int64) memChain {
	return slices.DeleteFunc(m, func(r Record) bool { return r.Seq == seq })
}

func TestVerifyNamesTheTampering(t *testing.T) {
	head := func(m memChain) Head { r := m.sorted()[len(m)-1]; return Head{r.Seq, r.Hash} }
	tests := []struct {
		name     string
		tamper   func(m memChain) memChain
		anchors  func(orig memChain) []Head
		wantKind Kind
		wantSeq  int64
	}{
		{name: "intact", tamper: func(m memChain) memChain { return m }},
		{name: "intact, anchored at the head", tamper: func(m memChain) memChain { return m },
			anchors: func(o memChain) []Head { return []Head{head(o), {3, o[2].Hash}} }},
		{name: "content changed", tamper: func(m memChain) memChain { m[4].Actor = "U666"; return m }, wantKind: KindChanged, wantSeq: 5},
		{name: "detail changed", tamper: func(m memChain) memChain { m[4].Details = map[string]string{"decision": "deny"}; return m }, wantKind: KindChanged, wantSeq: 5},
		{name: "hash changed", tamper: func(m memChain) memChain { m[4].Hash[0] ^= 1; return m }, wantKind: KindChanged, wantSeq: 5},
		{name: "prev changed", tamper: func(m memChain) memChain { m[4].Prev[0] ^= 1; return m }, wantKind: KindChanged, wantSeq: 5},
		{name: "last row changed", tamper: func(m memChain) memChain { m[9].Actor = "U666"; return m }, wantKind: KindChanged, wantSeq: 10},
		{name: "changed and rehashed", tamper: func(m memChain) memChain {
			m[4].Actor = "U666"
			m[4].Hash = ChainHash(m[4].Prev, m[4].Event)
			return m
		}, wantKind: KindRehashed, wantSeq: 5},
		{name: "deleted", tamper: func(m memChain) memChain { return without(m, 5) }, wantKind: KindDeleted, wantSeq: 5},
		{name: "first deleted", tamper: func(m memChain) memChain { return without(m, 1) }, wantKind: KindDeleted, wantSeq: 1},
		{name: "first deleted and renumbered", tamper: func(m memChain) memChain {
			m = without(m, 1)
			renumber(m, 2, -1)
			return m
		}, wantKind: KindDeleted, wantSeq: 1},
		{name: "inserted with a correct hash, rest renumbered", tamper: func(m memChain) memChain {
			renumber(m, 5, 1)
			return append(m, forged(5, m[3].Hash))
		}, wantKind: KindInserted, wantSeq: 5},
		{name: "inserted with a wrong hash, rest renumbered", tamper: func(m memChain) memChain {
			renumber(m, 5, 1)
			f := forged(5, m[3].Hash)
			f.Hash[0] ^= 1
			return append(m, f)
		}, wantKind: KindInserted, wantSeq: 5},
		{name: "inserted before the first", tamper: func(m memChain) memChain { return append(m, forged(0, Hash{})) }, wantKind: KindInserted, wantSeq: 0},
		{name: "two adjacent rows swapped", tamper: func(m memChain) memChain {
			m[3].Seq, m[4].Seq = m[4].Seq, m[3].Seq
			return m
		}, wantKind: KindReordered, wantSeq: 4},
		{name: "two distant rows swapped", tamper: func(m memChain) memChain {
			m[2].Seq, m[7].Seq = m[7].Seq, m[2].Seq
			return m
		}, wantKind: KindReordered, wantSeq: 3},
		{name: "a row moved to the end", tamper: func(m memChain) memChain { m[4].Seq = 100; return m }, wantKind: KindReordered, wantSeq: 5},
		{name: "numbers skip", tamper: func(m memChain) memChain { renumber(m, 6, 10); return m }, wantKind: KindRenumbered, wantSeq: 6},
		{name: "tail cut below an anchor", tamper: func(m memChain) memChain { return without(without(m, 10), 9) },
			anchors: func(o memChain) []Head { return []Head{head(o)} }, wantKind: KindTailCut, wantSeq: 9},
		{name: "tail cut, no anchor: not visible", tamper: func(m memChain) memChain { return without(m, 10) }},
		{name: "tail rewritten and rehashed below an anchor", tamper: func(m memChain) memChain {
			m[6].Actor = "U666"
			for i := 6; i < len(m); i++ {
				if i > 6 {
					m[i].Prev = m[i-1].Hash
				}
				m[i].Hash = ChainHash(m[i].Prev, m[i].Event)
			}
			return m
		}, anchors: func(o memChain) []Head { return []Head{{3, o[2].Hash}, head(o)} }, wantKind: KindAnchorMismatch, wantSeq: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := testChain(10)
			var anchors []Head
			if tt.anchors != nil {
				anchors = tt.anchors(orig)
			}
			m := tt.tamper(slices.Clone(testChain(10)))
			got, err := Verify(context.Background(), m, anchors...)
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if want := head(m); got.Head != want || got.Rows != want.Seq || got.Anchors != len(anchors) {
					t.Fatalf("Verified %+v, want head %v and %d anchors", got, want, len(anchors))
				}
				return
			}
			var te *TamperError
			if !errors.As(err, &te) || !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want a TamperError", err)
			}
			if te.Kind != tt.wantKind || te.Seq != tt.wantSeq {
				t.Fatalf("got %s at seq %d (%v), want %s at seq %d", te.Kind, te.Seq, err, tt.wantKind, tt.wantSeq)
			}
		})
	}
}

func TestVerifyRefusesDisagreeingAnchors(t *testing.T) {
	m := testChain(3)
	_, err := Verify(context.Background(), m, Head{2, m[1].Hash}, Head{2, m[0].Hash})
	if !errors.Is(err, ErrBadAnchor) {
		t.Fatalf("err = %v, want ErrBadAnchor", err)
	}
}

func TestVerifyEmptyChain(t *testing.T) {
	got, err := Verify(context.Background(), memChain{})
	if err != nil || got.Rows != 0 {
		t.Fatalf("%+v, %v", got, err)
	}
	_, err = Verify(context.Background(), memChain{}, Head{1, Hash{}})
	var te *TamperError
	if !errors.As(err, &te) || te.Kind != KindTailCut {
		t.Fatalf("err = %v, want tail cut", err)
	}
}
