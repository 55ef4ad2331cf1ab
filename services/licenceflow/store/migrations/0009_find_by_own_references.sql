-- Finding a file by the exporter's own references: the contract reference and the parties'
-- names (lower-cased, for a case-insensitive prefix) are written beside the filing, like its
-- elements, and indexed; so are submission times (the officers' queue, oldest first) and the
-- licences' lines (the element filter).
ALTER TABLE applications
    ADD COLUMN contract_ref   text,
    ADD COLUMN exporter_key   text,
    ADD COLUMN consignee_key  text,
    ADD COLUMN end_user_key   text;
UPDATE applications SET
    contract_ref  = filing->>'contract_ref',
    exporter_key  = lower(filing->'exporter'->>'name'),
    consignee_key = lower(filing->'consignee'->>'name'),
    end_user_key  = lower(filing->'end_user'->>'name');
ALTER TABLE applications
    ALTER COLUMN contract_ref  SET NOT NULL,
    ALTER COLUMN exporter_key  SET NOT NULL,
    ALTER COLUMN consignee_key SET NOT NULL,
    ALTER COLUMN end_user_key  SET NOT NULL;
CREATE INDEX applications_contract_ref ON applications (contract_ref);
-- text_pattern_ops: a LIKE 'prefix%' uses the index whatever the database's collation
CREATE INDEX applications_exporter_key ON applications (exporter_key text_pattern_ops);
CREATE INDEX applications_consignee_key ON applications (consignee_key text_pattern_ops);
CREATE INDEX applications_end_user_key ON applications (end_user_key text_pattern_ops);
CREATE INDEX applications_submitted ON applications (submitted_at, id);
CREATE INDEX licences_lines ON licences USING gin (lines jsonb_path_ops);
