-- The store tables of waitlist-postgres. Run with search_path set to the
-- store's schema; every statement is idempotent.

CREATE TABLE IF NOT EXISTS campaigns (
    id                  text PRIMARY KEY,
    account_id          text NOT NULL,
    points_per_referral bigint NOT NULL,
    milestones          jsonb NOT NULL,
    reward_rules        jsonb NOT NULL,
    owner_email         text
);

CREATE TABLE IF NOT EXISTS campaign_milestones (
    campaign_id text NOT NULL,
    threshold   bigint NOT NULL,
    PRIMARY KEY (campaign_id, threshold)
);

CREATE TABLE IF NOT EXISTS users (
    campaign_id        text NOT NULL,
    id                 text NOT NULL,
    email              text NOT NULL,
    original_position  bigint NOT NULL,
    verified_referrals bigint NOT NULL DEFAULT 0,
    position           bigint,
    verified_at        timestamptz,
    signup_ip          text,
    device_fingerprint text,
    user_agent         text,
    honeypot           text,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_original_position ON users (campaign_id, original_position);
CREATE INDEX IF NOT EXISTS users_position ON users (campaign_id, position);
CREATE INDEX IF NOT EXISTS users_created_at ON users (campaign_id, created_at);
CREATE INDEX IF NOT EXISTS users_verified_at ON users (campaign_id, verified_at);

CREATE TABLE IF NOT EXISTS referrals (
    campaign_id text NOT NULL,
    id          text NOT NULL,
    referrer_id text NOT NULL,
    referred_id text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'verified', 'blocked')),
    created_at  timestamptz NOT NULL,
    verified_at timestamptz,
    PRIMARY KEY (campaign_id, id)
);
CREATE INDEX IF NOT EXISTS referrals_verified ON referrals (campaign_id, referrer_id) WHERE status = 'verified';
CREATE INDEX IF NOT EXISTS referrals_created_at ON referrals (campaign_id, created_at);

CREATE TABLE IF NOT EXISTS rewards (
    campaign_id text NOT NULL,
    id          text NOT NULL,
    name        text NOT NULL,
    method      jsonb NOT NULL,
    code_prefix text NOT NULL,
    PRIMARY KEY (campaign_id, id)
);

CREATE TABLE IF NOT EXISTS user_rewards (
    campaign_id  text NOT NULL,
    id           text NOT NULL,
    user_id      text NOT NULL,
    reward_id    text NOT NULL,
    code         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered')),
    attempts     bigint NOT NULL DEFAULT 0,
    last_error   text,
    lease_until  timestamptz,
    earned_at    timestamptz NOT NULL,
    delivered_at timestamptz,
    PRIMARY KEY (campaign_id, id),
    UNIQUE (campaign_id, user_id, reward_id)
);
CREATE INDEX IF NOT EXISTS user_rewards_delivered_at ON user_rewards (campaign_id, delivered_at);

CREATE TABLE IF NOT EXISTS email_reservations (
    dedupe_key  text PRIMARY KEY,
    reserved_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS sent_emails (
    seq         bigserial PRIMARY KEY,
    dedupe_key  text NOT NULL,
    campaign_id text NOT NULL,
    user_id     text,
    kind        jsonb NOT NULL,
    to_address  text NOT NULL,
    sent_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_emails_sent_at ON sent_emails (campaign_id, sent_at);

CREATE TABLE IF NOT EXISTS analytics_buckets (
    campaign_id       text NOT NULL,
    granularity       text NOT NULL,
    start_at          timestamptz NOT NULL,
    signups           bigint NOT NULL,
    verifications     bigint NOT NULL,
    referrals         bigint NOT NULL,
    emails_sent       bigint NOT NULL,
    rewards_delivered bigint NOT NULL,
    PRIMARY KEY (campaign_id, granularity, start_at)
);

CREATE TABLE IF NOT EXISTS fraud_signals (
    campaign_id text NOT NULL,
    kind        text NOT NULL,
    value       text NOT NULL,
    subject_id  text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, kind, value, subject_id)
);
CREATE INDEX IF NOT EXISTS fraud_signals_at ON fraud_signals (campaign_id, kind, value, at);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key        text PRIMARY KEY,
    done       boolean NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at ON idempotency_keys (expires_at);
