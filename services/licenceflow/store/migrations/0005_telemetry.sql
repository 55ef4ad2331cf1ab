-- Real (wall-clock) insert times, for the pipeline's lag figures: events (commit → visible in the
-- backlog metrics) and outbox rows (commit → published). `at` and `created_at` stay business
-- time. clock_timestamp(), not now(): a long transaction's last event is stamped when written.

ALTER TABLE events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE outbox ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();
