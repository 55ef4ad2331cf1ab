-- What the border needs on the licence itself: the parties, destination, end use and the
-- application's references (fixed at issue), and each line's constituents. Licences issued
-- before take them from the filing of the application they grant.
ALTER TABLE licences ADD COLUMN particulars jsonb;
UPDATE licences AS l SET
    particulars = jsonb_strip_nulls(jsonb_build_object(
        'application_reference', a.reference,
        'contract_ref', a.filing->'contract_ref',
        'exporter', a.filing->'exporter',
        'consignee', a.filing->'consignee',
        'end_user', a.filing->'end_user',
        'destination_country', a.filing->'destination_country',
        'end_use', a.filing->'end_use',
        'end_use_category', a.filing->'end_use_category',
        'transport_mode', a.filing->'transport_mode',
        'customs_port', a.filing->'customs_port'
    )),
    lines = (
        SELECT jsonb_agg(
            line.value || jsonb_build_object('contains', coalesce(
                a.filing->'lines'->((line.value->>'line')::int - 1)->'contains', '[]'::jsonb
            ))
            ORDER BY (line.value->>'line')::int
        )
        FROM jsonb_array_elements(l.lines) AS line
    )
FROM applications AS a
WHERE a.id = l.application_id;
