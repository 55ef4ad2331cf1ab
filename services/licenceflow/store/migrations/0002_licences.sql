-- Licences issued on approval, the shipments that draw them down, and renewals.

CREATE TABLE licences (
    id             uuid PRIMARY KEY,
    number         text NOT NULL UNIQUE,
    application_id uuid NOT NULL UNIQUE REFERENCES applications (id),
    org            text NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    version        integer NOT NULL CHECK (version > 0),
    issued_at      timestamptz NOT NULL,
    valid_from     date NOT NULL,
    valid_until    date NOT NULL CHECK (valid_until >= valid_from),
    lines          jsonb NOT NULL
);
CREATE INDEX licences_org_recent ON licences (org, issued_at DESC, id DESC);
CREATE INDEX licences_recent ON licences (issued_at DESC, id DESC);
-- What the expiry sweep and renewal planning look for.
CREATE INDEX licences_live_until ON licences (valid_until) WHERE status IN ('active', 'suspended');

-- A shipment reference is recorded once per licence: a replay finds the first record.
CREATE TABLE shipments (
    licence_id   uuid NOT NULL REFERENCES licences (id),
    shipment_ref text NOT NULL,
    shipped_on   date NOT NULL,
    lines        jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL,
    recorded_by  text NOT NULL,
    PRIMARY KEY (licence_id, shipment_ref)
);

ALTER TABLE applications
    ADD CONSTRAINT applications_licence FOREIGN KEY (licence_id) REFERENCES licences (id),
    ADD COLUMN renews_licence_id uuid REFERENCES licences (id);
CREATE INDEX applications_renewing ON applications (renews_licence_id)
    WHERE renews_licence_id IS NOT NULL;
