-- 003_notify: tell long-running readers (the TAXII server's cache of each view) when the ledger
-- changes, on channel sluice_ledger: payload 'added' after rows are inserted into objects or shares
-- (readers fetch the rows after the last one they hold), 'erased' after rows are updated (erasure
-- tombstones), deleted (withdrawn from a view) or truncated (readers drop what they hold). One
-- notification per statement; PostgreSQL sends them at commit and folds duplicates.
CREATE FUNCTION ledger_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('sluice_ledger', CASE WHEN TG_OP = 'INSERT' THEN 'added' ELSE 'erased' END);
	RETURN NULL;
END;
$$;
CREATE TRIGGER objects_notify_added AFTER INSERT ON objects
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_notify();
CREATE TRIGGER objects_notify_erased AFTER UPDATE OR DELETE OR TRUNCATE ON objects
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_notify();
CREATE TRIGGER shares_notify_added AFTER INSERT ON shares
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_notify();
CREATE TRIGGER shares_notify_erased AFTER UPDATE OR DELETE OR TRUNCATE ON shares
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_notify();
