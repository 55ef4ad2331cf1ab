-- Idempotency-Keys belong to a principal (org and sub), not to a whole organisation, and live
-- 24 real hours: they expired on the business clock before, so at 1,440 times real time a
-- retry one real minute later filed a duplicate. `expires_at` is PostgreSQL's own time.
ALTER TABLE idempotency_keys ADD COLUMN sub text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz NOT NULL
    DEFAULT now() + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN sub DROP DEFAULT;
ALTER TABLE idempotency_keys ALTER COLUMN expires_at DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (org, sub, key);
-- for the retention sweep's purge of expired records
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
