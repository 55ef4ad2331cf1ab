-- The simulated authority: outbox rows that become due later (a referral's follow-up), and the
-- measured life of every authority task (for the queueing checks and for operators).

ALTER TABLE outbox ADD COLUMN available_at timestamptz;  -- business time; NULL: at once

-- One row per task run: real (wall-clock) times, not business time; they measure the machinery.
CREATE TABLE authority_runs (
    id             bigserial PRIMARY KEY,
    application_id uuid NOT NULL,
    desk           text NOT NULL,
    task_id        text NOT NULL,
    worker         text NOT NULL,
    slot           text NOT NULL,           -- the worker process (host:pid) that ran it
    outcome        text NOT NULL,           -- the action taken, or 'skipped'
    published_at   timestamptz,             -- the relay handed the task to the broker
    started_at     timestamptz NOT NULL,    -- a worker slot began the task
    finished_at    timestamptz NOT NULL,    -- the decision committed
    service_seconds double precision,       -- how long the officer held the slot working on it
    released_at    timestamptz              -- the slot was free again (after the task returned)
);
CREATE INDEX authority_runs_application ON authority_runs (application_id);
CREATE INDEX authority_runs_task ON authority_runs (task_id);

-- The reconciler's mark of the broker's contents: a Redis that comes back without it lost its
-- queues (see workers/sweeps.py).
CREATE TABLE broker_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     text NOT NULL
);
