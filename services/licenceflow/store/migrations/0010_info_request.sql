-- What an officer asked of an application waiting on its exporter, shown on the application
-- (`info_request`), and by when it must answer (`respond_by`: the `?respond_by_before=` filter).
-- Files waiting now take theirs from the request's event.
ALTER TABLE applications
    ADD COLUMN info_request jsonb,
    ADD COLUMN respond_by   timestamptz;
UPDATE applications AS a SET
    info_request = jsonb_build_object(
        'question', e.reason,
        'requested_at', e.at,
        'respond_by', e.details->>'respond_by'
    ),
    respond_by = (e.details->>'respond_by')::timestamptz
FROM (
    SELECT DISTINCT ON (stream_id) stream_id, reason, at, details
    FROM events
    WHERE stream = 'application' AND action = 'request_info'
    ORDER BY stream_id, seq DESC
) AS e
WHERE a.id = e.stream_id AND a.status = 'info_requested';
CREATE INDEX applications_respond_by ON applications (respond_by) WHERE respond_by IS NOT NULL;
