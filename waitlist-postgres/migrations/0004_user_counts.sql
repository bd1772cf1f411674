-- Users per campaign, kept by statement-level triggers on users, so
-- UserStore::count_users is one primary-key read instead of counting the
-- campaign's index entries (tens of milliseconds at 1,000,000 users, on
-- every verified referral and signup). The triggers see every INSERT,
-- DELETE and TRUNCATE, also the host's own bulk loads (COPY included); an
-- UPDATE that moves users to another campaign is not counted (the store
-- never does that).

CREATE TABLE IF NOT EXISTS campaign_user_counts (
    campaign_id text PRIMARY KEY,
    users       bigint NOT NULL
);

-- No writes to users until the migration commits: the count below and the
-- triggers then see the same users.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

-- The users already there (a no-op after the first run).
INSERT INTO campaign_user_counts (campaign_id, users)
SELECT campaign_id, count(*) FROM users GROUP BY campaign_id
ON CONFLICT (campaign_id) DO UPDATE SET users = EXCLUDED.users;

-- The functions resolve the tables in the schema they were created in.
CREATE OR REPLACE FUNCTION count_inserted_users() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- In campaign order, so concurrent statements lock the counters alike.
    INSERT INTO campaign_user_counts AS c (campaign_id, users)
    SELECT campaign_id, count(*) FROM inserted_users GROUP BY campaign_id ORDER BY campaign_id
    ON CONFLICT (campaign_id) DO UPDATE SET users = c.users + EXCLUDED.users;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION count_deleted_users() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE campaign_user_counts AS c SET users = c.users - d.users
    FROM (SELECT campaign_id, count(*) AS users FROM deleted_users GROUP BY campaign_id) AS d
    WHERE c.campaign_id = d.campaign_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION count_no_users() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM campaign_user_counts;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS users_count_inserted ON users;
CREATE TRIGGER users_count_inserted AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted_users
    FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_users();

DROP TRIGGER IF EXISTS users_count_deleted ON users;
CREATE TRIGGER users_count_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted_users
    FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_users();

DROP TRIGGER IF EXISTS users_count_truncated ON users;
CREATE TRIGGER users_count_truncated AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION count_no_users();
