-- References are given at commit. An application is inserted under a placeholder naming its
-- business year ('EL-2025-pending-<id>'); a deferred trigger takes the year's next number as
-- the creating transaction commits. The year's counter row is then locked for the commit alone,
-- not from the insert through every round trip after it: creations no longer queue behind
-- each other's network and Python time. Numbers stay gapless (a transaction that rolls back
-- never numbers) and now follow commit order exactly.

CREATE FUNCTION licenceflow_number_application() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    business_year int := split_part(NEW.reference, '-', 2)::int;
    taken bigint;
BEGIN
    INSERT INTO reference_counters (year, last_number) VALUES (business_year, 1)
    ON CONFLICT (year) DO UPDATE SET last_number = reference_counters.last_number + 1
    RETURNING last_number INTO taken;
    UPDATE applications
    SET reference = 'EL-' || business_year || '-' || lpad(taken::text, greatest(6, length(taken::text)), '0')
    WHERE id = NEW.id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER applications_numbered_at_commit AFTER INSERT ON applications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.reference LIKE 'EL-____-pending-%')
    EXECUTE FUNCTION licenceflow_number_application();
