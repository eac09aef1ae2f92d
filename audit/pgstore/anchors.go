package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/audit"
)

// ClaimAnchor records a claim on slot with the chain's head, unless the slot is published or was
// claimed less than lease ago; it returns the head to publish. An empty chain claims nothing.
func (s *Store) ClaimAnchor(ctx context.Context, slot time.Time, kind string, at time.Time, lease time.Duration) (audit.Head, bool, error) {
	var h audit.Head
	var hash []byte
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_anchors (slot, kind, seq, hash, claimed_at)
		SELECT $1, $2, seq, hash, $3 FROM audit_events ORDER BY seq DESC LIMIT 1
		ON CONFLICT (slot) DO UPDATE SET kind = excluded.kind, seq = excluded.seq, hash = excluded.hash, claimed_at = excluded.claimed_at
		WHERE audit_anchors.published_at IS NULL AND audit_anchors.claimed_at < $4
		RETURNING seq, hash`, slot, kind, at, at.Add(-lease)).Scan(&h.Seq, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return h, false, nil
	case err != nil:
		return h, false, fmt.Errorf("claim anchor %s: %w", slot.UTC().Format(time.RFC3339), err)
	}
	h.Hash = toHash(hash)
	return h, true, nil
}

// AnchorPublished marks slot's anchor published at at.
func (s *Store) AnchorPublished(ctx context.Context, slot, at time.Time) error {
	if _, err := s.pool.Exec(ctx, "UPDATE audit_anchors SET published_at = $2 WHERE slot = $1", slot, at); err != nil {
		return fmt.Errorf("mark anchor %s published: %w", slot.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// ReleaseAnchor drops slot's claim if it was not published.
func (s *Store) ReleaseAnchor(ctx context.Context, slot time.Time) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM audit_anchors WHERE slot = $1 AND published_at IS NULL", slot); err != nil {
		return fmt.Errorf("release anchor %s: %w", slot.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// LastAnchor returns the newest published anchor.
func (s *Store) LastAnchor(ctx context.Context) (audit.Anchor, bool, error) {
	var a audit.Anchor
	var hash []byte
	err := s.pool.QueryRow(ctx, `SELECT slot, kind, seq, hash, published_at FROM audit_anchors
		WHERE published_at IS NOT NULL ORDER BY published_at DESC LIMIT 1`).Scan(&a.Slot, &a.Kind, &a.Seq, &hash, &a.PublishedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return a, false, nil
	case err != nil:
		return a, false, fmt.Errorf("last anchor: %w", err)
	}
	a.Hash = toHash(hash)
	return a, true, nil
}
