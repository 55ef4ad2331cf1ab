-- Every outbox row carries the id of the task that will do its work, given when the row is
-- written (committed with the transition, so it exists before any worker can see the task).
-- The relay publishes the task under that id, and a desk acts only on a message whose id is
-- the row's: a message pushed onto a queue by hand, naming a real row, is still refused.
ALTER TABLE outbox ADD COLUMN task_id uuid NOT NULL DEFAULT gen_random_uuid();
