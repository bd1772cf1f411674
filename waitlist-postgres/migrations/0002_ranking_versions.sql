-- The per-campaign ranking version of the position services
-- (UserStore::ranking_version / bump_ranking_version).

CREATE TABLE IF NOT EXISTS ranking_versions (
    campaign_id text PRIMARY KEY,
    version     bigint NOT NULL
);
