-- The metrics projector reads application events in (transaction, seq) order below the horizon
-- of transactions still in flight, and is woken at commit by a notification.

CREATE INDEX events_projection ON events (xact_id, seq) WHERE stream = 'application';

CREATE FUNCTION licenceflow_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('licenceflow_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION licenceflow_notify_events();
