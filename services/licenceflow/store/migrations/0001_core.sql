-- The core: applications, their audit timeline, the outbox, idempotency records, the clock.
-- Business timestamps are written by the application from its business clock; no column here
-- defaults to now() for business time.

CREATE TABLE business_clock (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    real_anchor     timestamptz NOT NULL,
    business_anchor timestamptz NOT NULL,
    speed           double precision NOT NULL CHECK (speed >= 0)
);

-- One row per business year; the row lock held to commit makes references gapless.
CREATE TABLE reference_counters (
    year        integer PRIMARY KEY,
    last_number integer NOT NULL
);

CREATE TABLE applications (
    id                  uuid PRIMARY KEY,
    org                 text NOT NULL,
    reference           text NOT NULL UNIQUE,
    status              text NOT NULL,
    version             integer NOT NULL CHECK (version > 0),
    filing              jsonb NOT NULL,
    elements            text[] NOT NULL,
    destination_country text NOT NULL,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    submitted_at        timestamptz,
    accepted_at         timestamptz,
    decided_at          timestamptz,
    closed_at           timestamptz,
    due_at              timestamptz,
    referred            boolean NOT NULL DEFAULT false,
    resume_status       text,
    paused_since        date,
    paused_working_days integer NOT NULL DEFAULT 0,
    decision            jsonb,
    licence_id          uuid
);
CREATE INDEX applications_org_recent ON applications (org, created_at DESC, id DESC);
CREATE INDEX applications_recent ON applications (created_at DESC, id DESC);
CREATE INDEX applications_status_due ON applications (status, due_at);
CREATE INDEX applications_elements ON applications USING gin (elements);

-- The audit timeline of every aggregate. xact_id lets the metrics projector read only below the
-- horizon of transactions still in flight (a bigserial is allocated at insert, visible at commit).
CREATE TABLE events (
    seq         bigserial PRIMARY KEY,
    xact_id     xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream      text NOT NULL,
    stream_id   uuid NOT NULL,
    org         text NOT NULL,
    at          timestamptz NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    actor_sub   text NOT NULL,
    actor_role  text NOT NULL,
    reason      text,
    reason_code text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_stream ON events (stream_id, seq);

-- Follow-up work, written in the transition's transaction and relayed to the workers after commit.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Idempotency-Key records, kept with the application they created (24 h).
CREATE TABLE idempotency_keys (
    org            text NOT NULL,
    key            text NOT NULL,
    request_hash   bytea NOT NULL,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    response       jsonb NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (org, key)
);
