-- Followers of `ocsp_responses` (server/status_feed.py) wake at once on PostgreSQL: every
-- statement that writes the table notifies channel `ocsp_responses`, delivered when its
-- transaction commits (and not at all if it rolls back), so a follower that wakes reads a
-- committed row. The commit-ordered poll on `seq` stays the fallback (a listening
-- connection lost, a notification missed); SQLite has no notifications and only polls.
-- only postgresql
CREATE FUNCTION ocsp_responses_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ocsp_responses', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER ocsp_responses_notify AFTER INSERT OR UPDATE ON ocsp_responses
    FOR EACH STATEMENT EXECUTE FUNCTION ocsp_responses_notify();
-- end only
