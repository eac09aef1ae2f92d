-- 0001: the chain, the cursors of the writers that feed it, and the anchors published from it.

-- One row per audited event; see package audit for the hash and its canonical form. The
-- sequence number is the row's position (1, 2, 3, … without gaps).
CREATE TABLE audit_events (
    seq        bigint      PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE, -- idempotency: an event is appended once
    at         timestamptz NOT NULL,
    request_id text        NOT NULL,
    actor      text        NOT NULL,
    actor_name text        NOT NULL,
    action     text        NOT NULL,
    tier       text        NOT NULL,
    source     text        NOT NULL,
    channel    text        NOT NULL,
    details    jsonb       NOT NULL,        -- an object of strings
    prev_hash  bytea       NOT NULL,
    hash       bytea       NOT NULL
);
CREATE INDEX audit_events_request ON audit_events (request_id);
CREATE INDEX audit_events_at ON audit_events (at);

-- Append-only for everyone who does not disable triggers; the chain catches those who do.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The last event each feed (the outbox consumer) appended, moved in the same transaction.
CREATE TABLE audit_cursors (
    name       text        PRIMARY KEY,
    last_id    text        NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Anchors claimed and published (bookkeeping for the daily schedule and the anchor-age metric;
-- verification trusts only anchors kept outside this database).
CREATE TABLE audit_anchors (
    slot         timestamptz PRIMARY KEY,
    kind         text        NOT NULL,
    seq          bigint      NOT NULL,
    hash         bytea       NOT NULL,
    claimed_at   timestamptz NOT NULL,
    published_at timestamptz
);
