//! The store conformance suite: the behaviour of every store trait, as
//! [`MemoryStore`](crate::store::MemoryStore) defines it.
//!
//! One `pub async fn` per trait (and per race) over any `S: AllStores`;
//! [`all`] runs them all. Every function works on campaigns and keys of its
//! own, so they can share one store. Failures panic with what differed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::positions::rank_all;
use crate::domain::{AllStores, CampaignLock, DomainStores, PositionService};
use crate::events::{EmailKind, Granularity, RewardDeliveryMethod};
use crate::store::{
    AnalyticsBucket, Campaign, DeliveryClaim, DeliveryStatus, FraudSignal, PositionChange,
    RecalculatedPositions, Referral, ReferralStatus, Reward, RewardRule, SentEmail, SignalKind,
    StoreError, TimeRange, User, UserReward,
};

/// 2025-01-01T12:00:00Z plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(secs)
}

fn range(from: i64, to: i64) -> TimeRange {
    TimeRange::new(at(from), at(to))
}

fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Runs every behaviour of this module on `store`.
pub async fn all<S: AllStores>(store: Arc<S>) {
    campaigns(Arc::clone(&store)).await;
    users(Arc::clone(&store)).await;
    positions(Arc::clone(&store)).await;
    recalculated_positions_match_rank_all(Arc::clone(&store), fastrand::u64(..)).await;
    referrals(Arc::clone(&store)).await;
    rewards(Arc::clone(&store)).await;
    email_log(Arc::clone(&store)).await;
    analytics(Arc::clone(&store)).await;
    fraud_signals(Arc::clone(&store)).await;
    concurrent_delivery_claims_have_one_winner(Arc::clone(&store), 50).await;
    concurrent_milestone_claims_have_one_winner(Arc::clone(&store), 50).await;
    concurrent_signups_get_distinct_positions(Arc::clone(&store), 20).await;
    concurrent_verifications_of_a_referral_have_one_winner(Arc::clone(&store), 20).await;
    concurrent_reservations_of_an_email_have_one_winner(Arc::clone(&store), 20).await;
    concurrent_ranking_bumps_each_advance_once(store, 20).await;
}

/// Campaigns: save, replace, points per referral, milestones.
pub async fn campaigns<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    assert_eq!(ok("campaign", s.campaign("cs-camp").await), None);
    let mut c = Campaign::new("cs-camp", "acme");
    c.milestones = vec![10, 100];
    c.reward_rules = vec![RewardRule {
        reward_id: "early".into(),
        verified_referrals: 3,
    }];
    c.owner_email = Some("owner@example.com".into());
    ok("save", s.save_campaign(c.clone()).await);
    assert_eq!(ok("campaign", s.campaign("cs-camp").await), Some(c.clone()));
    c.account_id = "other".into();
    c.owner_email = None;
    ok("replace", s.save_campaign(c.clone()).await);
    assert_eq!(ok("campaign", s.campaign("cs-camp").await), Some(c.clone()));

    ok("points", s.set_points_per_referral("cs-camp", 5).await);
    let stored = ok("campaign", s.campaign("cs-camp").await);
    assert_eq!(stored.map(|c| c.points_per_referral), Some(5));
    assert!(
        matches!(
            s.set_points_per_referral("cs-none", 5).await,
            Err(StoreError::NotFound {
                kind: "campaign",
                ..
            })
        ),
        "points of an unknown campaign: NotFound"
    );

    assert!(ok("claim", s.claim_milestone("cs-camp", 10).await));
    assert!(!ok("claim again", s.claim_milestone("cs-camp", 10).await));
    assert!(ok(
        "other threshold",
        s.claim_milestone("cs-camp", 100).await
    ));
    assert!(ok(
        "other campaign",
        s.claim_milestone("cs-other", 10).await
    ));
    ok("release", s.release_milestone("cs-camp", 10).await);
    assert!(ok(
        "claim after release",
        s.claim_milestone("cs-camp", 10).await
    ));
    ok("release unknown", s.release_milestone("cs-camp", 7).await);
}

fn user(campaign: &str, id: &str, secs: i64) -> User {
    User::new(campaign, id, format!("{id}@example.com"), at(secs))
}

/// Users: insert (positions assigned), read, counts, verification,
/// verified-referral counts.
pub async fn users<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    let mut ada = user("cs-users", "ada", 0);
    ada.original_position = 99; // ignored
    ada.signup_ip = Some("10.0.0.1".into());
    ada.device_fingerprint = Some("dev-1".into());
    ada.user_agent = Some("Firefox".into());
    ada.honeypot = Some(String::new());
    assert_eq!(ok("insert ada", s.insert_user(ada.clone()).await), 1);
    assert_eq!(
        ok(
            "insert bob",
            s.insert_user(user("cs-users", "bob", 10)).await
        ),
        2
    );
    assert_eq!(
        ok(
            "other campaign",
            s.insert_user(user("cs-users-2", "ada", 10)).await
        ),
        1,
        "positions count per campaign"
    );
    assert!(
        matches!(
            s.insert_user(user("cs-users", "ada", 20)).await,
            Err(StoreError::AlreadyExists { kind: "user", .. })
        ),
        "a taken id: AlreadyExists"
    );
    assert_eq!(
        ok(
            "insert cid",
            s.insert_user(user("cs-users", "cid", 3600)).await
        ),
        3,
        "a refused insert uses up no position"
    );

    ada.original_position = 1;
    assert_eq!(
        ok("user", s.user("cs-users", "ada").await),
        Some(ada.clone())
    );
    assert_eq!(ok("user", s.user("cs-users", "nobody").await), None);
    assert_eq!(ok("user", s.user("cs-none", "ada").await), None);
    assert_eq!(ok("count", s.count_users("cs-users").await), 3);
    assert_eq!(ok("count", s.count_users("cs-none").await), 0);
    assert_eq!(
        ok("signups", s.count_signups("cs-users", range(0, 10)).await),
        1
    );
    assert_eq!(
        ok("signups", s.count_signups("cs-users", range(0, 11)).await),
        2
    );
    assert_eq!(
        ok(
            "signups",
            s.count_signups("cs-users", range(11, 3600)).await
        ),
        0
    );

    assert!(ok(
        "verify",
        s.set_email_verified("cs-users", "bob", at(50)).await
    ));
    assert!(!ok(
        "verify again",
        s.set_email_verified("cs-users", "bob", at(60)).await
    ));
    let bob = ok("user", s.user("cs-users", "bob").await);
    assert_eq!(
        bob.and_then(|u| u.verified_at),
        Some(at(50)),
        "first time kept"
    );
    assert!(matches!(
        s.set_email_verified("cs-users", "nobody", at(50)).await,
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    assert_eq!(
        ok(
            "verifications",
            s.count_verifications("cs-users", range(50, 51)).await
        ),
        1
    );
    assert_eq!(
        ok(
            "verifications",
            s.count_verifications("cs-users", range(0, 50)).await
        ),
        0
    );

    ok(
        "referrals",
        s.set_verified_referrals("cs-users", "ada", 4).await,
    );
    ok(
        "referrals again",
        s.set_verified_referrals("cs-users", "ada", 4).await,
    );
    let ada = ok("user", s.user("cs-users", "ada").await);
    assert_eq!(ada.map(|u| u.verified_referrals), Some(4));
    assert!(matches!(
        s.set_verified_referrals("cs-users", "nobody", 1).await,
        Err(StoreError::NotFound { kind: "user", .. })
    ));

    let mut standings = ok("standings", s.standings("cs-users").await);
    standings.sort_by_key(|s| s.original_position);
    let summary: Vec<(String, u64, u64, Option<u64>)> = standings
        .into_iter()
        .map(|s| {
            (
                s.user_id,
                s.original_position,
                s.verified_referrals,
                s.position,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ada".to_owned(), 1, 4, None),
            ("bob".to_owned(), 2, 0, None),
            ("cid".to_owned(), 3, 0, None),
        ]
    );
    assert!(ok("standings", s.standings("cs-none").await).is_empty());

    assert_eq!(ok("version", s.ranking_version("cs-users").await), 0);
    assert_eq!(ok("bump", s.bump_ranking_version("cs-users").await), 1);
    assert_eq!(ok("bump", s.bump_ranking_version("cs-users").await), 2);
    assert_eq!(ok("version", s.ranking_version("cs-users").await), 2);
    assert_eq!(
        ok("version", s.ranking_version("cs-users-2").await),
        0,
        "versions count per campaign"
    );
}

async fn ranks<S: AllStores>(s: &S, campaign: &str) -> Vec<(String, Option<u64>)> {
    let mut all: Vec<(String, Option<u64>)> = ok("standings", s.standings(campaign).await)
        .into_iter()
        .map(|s| (s.user_id, s.position))
        .collect();
    all.sort();
    all
}

fn expect(pairs: &[(&str, u64)]) -> Vec<(String, Option<u64>)> {
    let mut v: Vec<(String, Option<u64>)> = pairs
        .iter()
        .map(|(id, p)| ((*id).to_owned(), Some(*p)))
        .collect();
    v.sort();
    v
}

/// Applies the move of `user` from rank `old` to `new` in campaign `c`
/// (`what` names it); the ranks after must be `after`.
async fn apply_move<S: AllStores>(
    s: &S,
    c: &str,
    what: &str,
    (user, old, new): (&str, u64, u64),
    after: &[(&str, u64)],
) {
    let change = PositionChange {
        user_id: user.into(),
        old_position: old,
        new_position: new,
    };
    ok(what, s.apply_position_change(c, &change).await);
    assert_eq!(ranks(s, c).await, expect(after), "{what}");
}

/// Positions: a full write, moves up, down and in place.
pub async fn positions<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    let c = "cs-pos";
    for id in ["a", "b", "c", "d", "e"] {
        ok("insert", s.insert_user(user(c, id, 0)).await);
    }
    let all: Vec<(String, u64)> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(1u64..)
        .map(|(id, p)| ((*id).to_owned(), p))
        .collect();
    let mut with_unknown = all.clone();
    with_unknown.push(("ghost".into(), 9));
    ok("save", s.save_positions(c, &with_unknown).await);
    ok("save empty", s.save_positions(c, &[]).await);
    ok(
        "save unknown campaign",
        s.save_positions("cs-none", &all).await,
    );
    assert_eq!(
        ranks(s, c).await,
        expect(&[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)])
    );
    let d = ok("user", s.user(c, "d").await);
    assert_eq!(d.and_then(|u| u.position), Some(4));

    // d moves up from 4 to 2: b and c shift down.
    let after_up = [("a", 1), ("d", 2), ("b", 3), ("c", 4), ("e", 5)];
    apply_move(s, c, "up", ("d", 4, 2), &after_up).await;
    // a moves down from 1 to 3: d and b shift up.
    let after_down = [("d", 1), ("b", 2), ("a", 3), ("c", 4), ("e", 5)];
    apply_move(s, c, "down", ("a", 1, 3), &after_down).await;
    apply_move(s, c, "in place", ("e", 5, 5), &after_down).await;
    let still = PositionChange {
        user_id: "e".into(),
        old_position: 5,
        new_position: 5,
    };
    assert!(
        matches!(
            s.apply_position_change("cs-none", &still).await,
            Err(StoreError::NotFound {
                kind: "campaign",
                ..
            })
        ),
        "a move in a campaign without users: NotFound"
    );
}

/// A full recalculation in the store
/// ([`UserStore::recalculate_positions`](crate::store::UserStore::recalculate_positions))
/// ranks exactly as [`rank_all`], on random campaigns drawn from `seed`:
/// stale and missing stored positions, referral counts up to `i64::MAX`
/// (where the score saturates), and points per referral from `i64::MIN` to
/// `i64::MAX`, each in turn (in random order) on every campaign. Every
/// stored position must be `rank_all`'s, the reported counts right, and a
/// second run must change nothing.
pub async fn recalculated_positions_match_rank_all<S: AllStores>(store: Arc<S>, seed: u64) {
    let s = store.as_ref();
    let mut rng = fastrand::Rng::with_seed(seed);
    let points = [0, 1, 2, 3, 7, 1 << 40, i64::MAX, -1, -5, i64::MIN];
    let empty = ok("empty", s.recalculate_positions("cs-rank-none", 1).await);
    assert_eq!(
        empty,
        RecalculatedPositions::default(),
        "no users, no writes"
    );
    for round in 0..4 {
        let c = format!("cs-rank-{round}");
        let n = rng.usize(1..50);
        let prefixes = ["u", "U", "_", "a b", "é", "Z-"];
        for i in 0..n {
            let id = format!("{}{i}", prefixes[rng.usize(..prefixes.len())]);
            ok("insert", s.insert_user(user(&c, &id, 0)).await);
            let referrals = match rng.u8(..10) {
                0 => i64::MAX.unsigned_abs(),
                1 => rng.u64(..=i64::MAX.unsigned_abs()),
                _ => rng.u64(..6),
            };
            ok(
                "referrals",
                s.set_verified_referrals(&c, &id, referrals).await,
            );
            if rng.bool() {
                let stale = [(id, rng.u64(1..=n as u64 + 2))];
                ok("stale position", s.save_positions(&c, &stale).await);
            }
        }
        let mut order = points;
        rng.shuffle(&mut order);
        for p in order {
            let why = format!("seed {seed}, campaign {c}, {n} users, {p} points");
            let before = ok("standings", s.standings(&c).await);
            let expected = rank_all(&before, p);
            let differ = expected
                .iter()
                .filter(|(id, rank)| {
                    before
                        .iter()
                        .any(|b| &b.user_id == id && b.position != Some(*rank))
                })
                .count() as u64;
            let done = ok("recalculate", s.recalculate_positions(&c, p).await);
            let counts = RecalculatedPositions {
                users: n as u64,
                changed: differ,
            };
            assert_eq!(done, counts, "{why}");
            let mut stored: Vec<(String, u64)> = ok("standings", s.standings(&c).await)
                .into_iter()
                .map(|s| (s.user_id, s.position.unwrap_or(0)))
                .collect();
            stored.sort_by_key(|(_, position)| *position);
            assert_eq!(stored, expected, "positions are rank_all's: {why}");
            let again = ok("again", s.recalculate_positions(&c, p).await);
            assert_eq!(again.changed, 0, "a second run changes nothing: {why}");
        }
    }
}

/// Referrals: insert, read, status moves (blocked stays blocked), counts.
pub async fn referrals<S: AllStores>(store: Arc<S>) {
    use ReferralStatus::{Blocked, Pending, Verified};
    let s = store.as_ref();
    let c = "cs-ref";
    let r1 = Referral::new(c, "r1", "ann", "bob", at(0));
    ok("insert", s.insert_referral(r1.clone()).await);
    assert!(matches!(
        s.insert_referral(r1.clone()).await,
        Err(StoreError::AlreadyExists {
            kind: "referral",
            ..
        })
    ));
    let mut r2 = Referral::new(c, "r2", "ann", "cid", at(10));
    r2.status = Verified;
    r2.verified_at = Some(at(10));
    ok("insert verified", s.insert_referral(r2.clone()).await);
    ok(
        "insert",
        s.insert_referral(Referral::new(c, "r3", "ann", "dan", at(20)))
            .await,
    );
    ok(
        "insert",
        s.insert_referral(Referral::new(c, "r4", "bob", "eve", at(30)))
            .await,
    );
    assert_eq!(ok("referral", s.referral(c, "r1").await), Some(r1));
    assert_eq!(ok("referral", s.referral(c, "r2").await), Some(r2));
    assert_eq!(ok("referral", s.referral(c, "nope").await), None);
    assert_eq!(ok("verified", s.count_verified(c, "ann").await), 1);

    let set = |id: &'static str, status, secs| s.set_referral_status(c, id, status, at(secs));
    assert_eq!(ok("verify", set("r1", Verified, 40).await), Pending);
    assert_eq!(ok("verified", s.count_verified(c, "ann").await), 2);
    let r1 = ok("referral", s.referral(c, "r1").await);
    assert_eq!(r1.as_ref().map(|r| r.status), Some(Verified));
    assert_eq!(r1.and_then(|r| r.verified_at), Some(at(40)));
    assert_eq!(ok("verify again", set("r1", Verified, 50).await), Verified);
    let r1 = ok("referral", s.referral(c, "r1").await);
    assert_eq!(r1.and_then(|r| r.verified_at), Some(at(40)), "unchanged");
    assert_eq!(ok("verified", s.count_verified(c, "ann").await), 2);

    assert_eq!(ok("block", set("r2", Blocked, 60).await), Verified);
    assert_eq!(
        ok("verified", s.count_verified(c, "ann").await),
        1,
        "blocked never counts"
    );
    assert_eq!(ok("unblock", set("r2", Verified, 70).await), Blocked);
    assert_eq!(ok("unblock", set("r2", Pending, 70).await), Blocked);
    let r2 = ok("referral", s.referral(c, "r2").await);
    assert_eq!(r2.map(|r| r.status), Some(Blocked), "blocked stays");
    assert_eq!(ok("block again", set("r2", Blocked, 80).await), Blocked);
    assert_eq!(ok("block pending", set("r3", Blocked, 80).await), Pending);
    assert_eq!(ok("verified", s.count_verified(c, "ann").await), 1);
    assert_eq!(ok("verified", s.count_verified(c, "bob").await), 0);
    assert_eq!(
        ok("back to pending", set("r1", Pending, 90).await),
        Verified
    );
    assert_eq!(ok("verified", s.count_verified(c, "ann").await), 0);
    assert!(matches!(
        set("nope", Verified, 0).await,
        Err(StoreError::NotFound {
            kind: "referral",
            ..
        })
    ));

    assert_eq!(ok("count", s.count_referrals(c, range(0, 30)).await), 3);
    assert_eq!(ok("count", s.count_referrals(c, range(0, 31)).await), 4);
    assert_eq!(
        ok("count", s.count_referrals("cs-none", range(0, 31)).await),
        0
    );
}

/// Rewards: definitions, grants (once per user and reward), the delivery
/// claim with its lease, completion and failure.
pub async fn rewards<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    let c = "cs-rew";
    let mut reward = Reward {
        id: "early".into(),
        campaign_id: c.into(),
        name: "Early access".into(),
        method: RewardDeliveryMethod::Email,
        code_prefix: "EARLY".into(),
    };
    ok("save", s.save_reward(reward.clone()).await);
    reward.method = RewardDeliveryMethod::Webhook;
    ok("replace", s.save_reward(reward.clone()).await);
    assert_eq!(ok("reward", s.reward(c, "early").await), Some(reward));
    assert_eq!(ok("reward", s.reward(c, "nope").await), None);

    let ur = UserReward::new(c, "ann", "early", "EARLY-1", at(0));
    assert!(ok("grant", s.grant_reward(ur.clone()).await));
    assert!(!ok("grant again", s.grant_reward(ur.clone()).await));
    let mut same_pair = UserReward::new(c, "ann", "early", "EARLY-2", at(5));
    same_pair.id = "another-id".into();
    assert!(
        !ok(
            "grant same user and reward",
            s.grant_reward(same_pair).await
        ),
        "one per user and reward"
    );
    assert_eq!(
        ok("user reward", s.user_reward(c, &ur.id).await),
        Some(ur.clone())
    );
    assert_eq!(ok("user reward", s.user_reward(c, "nope").await), None);

    let lease = Duration::from_secs(60);
    let claimed = ok("claim", s.claim_delivery(c, &ur.id, at(100), lease).await);
    let DeliveryClaim::Claimed(held) = claimed else {
        panic!("a pending reward is claimed, got {claimed:?}");
    };
    assert_eq!(held.status, DeliveryStatus::Delivering);
    assert_eq!(held.attempts, 1);
    assert_eq!(held.lease_until, Some(at(160)));
    assert_eq!(
        ok(
            "claim held",
            s.claim_delivery(c, &ur.id, at(159), lease).await
        ),
        DeliveryClaim::InProgress
    );
    let again = ok(
        "claim after lease",
        s.claim_delivery(c, &ur.id, at(160), lease).await,
    );
    let DeliveryClaim::Claimed(again) = again else {
        panic!("an ended lease is claimed again, got {again:?}");
    };
    assert_eq!((again.attempts, again.lease_until), (2, Some(at(220))));

    ok("fail", s.fail_delivery(c, &ur.id, "smtp down").await);
    let failed = ok("user reward", s.user_reward(c, &ur.id).await);
    let failed = failed.unwrap_or_else(|| panic!("user reward gone"));
    assert_eq!(failed.status, DeliveryStatus::Pending);
    assert_eq!(failed.lease_until, None);
    assert_eq!(failed.last_error.as_deref(), Some("smtp down"));
    assert_eq!(failed.attempts, 2);
    let third = ok(
        "claim after failure",
        s.claim_delivery(c, &ur.id, at(170), lease).await,
    );
    assert!(matches!(third, DeliveryClaim::Claimed(ref r) if r.attempts == 3));

    ok("complete", s.complete_delivery(c, &ur.id, at(180)).await);
    let done = ok("user reward", s.user_reward(c, &ur.id).await);
    let done = done.unwrap_or_else(|| panic!("user reward gone"));
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(done.delivered_at, Some(at(180)));
    assert_eq!((done.lease_until, done.last_error), (None, None));
    assert_eq!(
        ok(
            "claim delivered",
            s.claim_delivery(c, &ur.id, at(1000), lease).await
        ),
        DeliveryClaim::AlreadyDelivered
    );
    ok("fail delivered", s.fail_delivery(c, &ur.id, "late").await);
    let still = ok("user reward", s.user_reward(c, &ur.id).await);
    assert_eq!(
        still.map(|r| (r.status, r.last_error)),
        Some((DeliveryStatus::Delivered, None))
    );

    for result in [
        s.claim_delivery(c, "nope", at(0), lease).await.map(|_| ()),
        s.complete_delivery(c, "nope", at(0)).await,
        s.fail_delivery(c, "nope", "x").await,
    ] {
        assert!(
            matches!(
                result,
                Err(StoreError::NotFound {
                    kind: "user reward",
                    ..
                })
            ),
            "unknown user reward: NotFound, got {result:?}"
        );
    }
    assert_eq!(
        ok("delivered", s.count_delivered(c, range(180, 181)).await),
        1
    );
    assert_eq!(
        ok("delivered", s.count_delivered(c, range(0, 180)).await),
        0
    );
}

/// The email log: reservations within a window, release, the sent log.
pub async fn email_log<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    let window = Duration::from_secs(3600);
    let key = "welcome/cs-mail/ann";
    assert!(ok("reserve", s.reserve(key, at(0), window).await));
    assert!(!ok(
        "reserve within",
        s.reserve(key, at(3599), window).await
    ));
    assert!(ok("reserve after", s.reserve(key, at(3600), window).await));
    assert!(!ok(
        "reserve within",
        s.reserve(key, at(3601), window).await
    ));
    ok("release", s.release(key).await);
    assert!(ok(
        "reserve released",
        s.reserve(key, at(3602), window).await
    ));
    ok("release unknown", s.release("nope").await);

    let sent = SentEmail {
        dedupe_key: "welcome/cs-mail/bob".into(),
        campaign_id: "cs-mail".into(),
        user_id: Some("bob".into()),
        kind: EmailKind::Welcome,
        to: "bob@example.com".into(),
        sent_at: at(100),
    };
    ok("record", s.record_sent(sent.clone()).await);
    assert!(
        !ok(
            "reserve a sent key",
            s.reserve(&sent.dedupe_key, at(200), window).await
        ),
        "a sent email counts as reserved"
    );
    assert!(ok(
        "reserve a sent key later",
        s.reserve(&sent.dedupe_key, at(3700), window).await
    ));
    let milestone = SentEmail {
        dedupe_key: "milestone/cs-mail/10".into(),
        user_id: None,
        kind: EmailKind::Milestone,
        to: "owner@example.com".into(),
        sent_at: at(200),
        ..sent
    };
    ok("record", s.record_sent(milestone).await);
    assert_eq!(
        ok("sent", s.count_sent("cs-mail", range(100, 201)).await),
        2
    );
    assert_eq!(
        ok("sent", s.count_sent("cs-mail", range(101, 200)).await),
        0
    );
    assert_eq!(ok("sent", s.count_sent("cs-none", range(0, 1000)).await), 0);
}

/// Analytics: upsert by (campaign, granularity, start), ranges, ordering.
pub async fn analytics<S: AllStores>(store: Arc<S>) {
    let s = store.as_ref();
    let bucket = |g, start: i64, signups| AnalyticsBucket {
        campaign_id: "cs-ana".into(),
        granularity: g,
        start: at(start),
        signups,
        verifications: 1,
        referrals: 2,
        emails_sent: 3,
        rewards_delivered: 4,
    };
    for (what, granularity, start, signups) in [
        ("upsert", Granularity::Hourly, 7200, 5),
        ("upsert", Granularity::Hourly, 0, 1),
        ("upsert", Granularity::Hourly, 3600, 2),
        ("replace", Granularity::Hourly, 3600, 9),
        ("daily", Granularity::Daily, 0, 50),
    ] {
        let b = bucket(granularity, start, signups);
        ok(what, s.upsert_bucket(b).await);
    }
    let hourly = ok(
        "buckets",
        s.buckets("cs-ana", Granularity::Hourly, range(0, 7200))
            .await,
    );
    assert_eq!(
        hourly,
        vec![
            bucket(Granularity::Hourly, 0, 1),
            bucket(Granularity::Hourly, 3600, 9)
        ],
        "oldest first, end excluded, replaced"
    );
    let daily = ok(
        "buckets",
        s.buckets("cs-ana", Granularity::Daily, range(0, 86400))
            .await,
    );
    assert_eq!(daily, vec![bucket(Granularity::Daily, 0, 50)]);
    let empty = ok(
        "buckets",
        s.buckets("cs-ana", Granularity::Hourly, range(7200, 0))
            .await,
    );
    assert!(empty.is_empty(), "an inverted range is empty");
    let other = ok(
        "buckets",
        s.buckets("cs-none", Granularity::Hourly, range(0, 86400))
            .await,
    );
    assert!(other.is_empty());
}

/// Fraud signals: other subjects within the window, each once.
pub async fn fraud_signals<S: AllStores>(store: Arc<S>) {
    use SignalKind::{Device, Ip, Referrer};
    let s = store.as_ref();
    let w = Duration::from_secs(60);
    let signal = |kind, value: &str, subject: &str, secs| FraudSignal {
        campaign_id: "cs-fraud".into(),
        kind,
        value: value.into(),
        subject_id: subject.into(),
        at: at(secs),
    };
    // (what, kind, value, subject, at, other subjects within the window)
    let observations = [
        ("a", Ip, "ip", "a", 0, 0),
        ("b", Ip, "ip", "b", 10, 1),
        ("b again", Ip, "ip", "b", 11, 1),
        ("c", Ip, "ip", "c", 20, 2),
        ("other kind: kinds are apart", Device, "ip", "d", 20, 0),
        ("other value", Ip, "ip2", "d", 20, 0),
        // `a` (t=0) is outside the window of t=65; b (first seen at 10)
        // and c (20) are in.
        ("d", Ip, "ip", "d", 65, 2),
        // At t=75 b is out too: c and d remain.
        ("e", Ip, "ip", "e", 75, 2),
        ("referrer", Referrer, "ann", "r1", 0, 0),
    ];
    for (what, kind, value, subject, secs, others) in observations {
        let seen = s.record_signal(signal(kind, value, subject, secs), w);
        assert_eq!(ok(what, seen.await), others, "{what}");
    }
}

async fn race<S, T, F, Fut>(store: &Arc<S>, n: usize, f: F) -> Vec<T>
where
    S: AllStores,
    T: Send + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let run = f(Arc::clone(store), i);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                run.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| panic!("racing task failed: {e}")),
        );
    }
    out
}

/// `n` tasks claim one reward delivery at once: exactly one wins.
pub async fn concurrent_delivery_claims_have_one_winner<S: AllStores>(store: Arc<S>, n: usize) {
    let ur = UserReward::new("cs-race-rew", "ann", "early", "EARLY-1", at(0));
    let id = ur.id.clone();
    assert!(ok("grant", store.grant_reward(ur).await));
    let claims = race(&store, n, |s, _| {
        let id = id.clone();
        async move {
            s.claim_delivery("cs-race-rew", &id, at(10), Duration::from_secs(60))
                .await
        }
    })
    .await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Ok(DeliveryClaim::Claimed(_))))
        .count();
    let lost = claims
        .iter()
        .filter(|c| matches!(c, Ok(DeliveryClaim::InProgress)))
        .count();
    assert_eq!((won, lost), (1, n - 1), "one claim wins: {claims:?}");
    let held = ok("user reward", store.user_reward("cs-race-rew", &id).await);
    assert_eq!(held.map(|r| r.attempts), Some(1));
}

/// `n` tasks claim one milestone at once: exactly one wins.
pub async fn concurrent_milestone_claims_have_one_winner<S: AllStores>(store: Arc<S>, n: usize) {
    let claims = race(&store, n, |s, _| async move {
        s.claim_milestone("cs-race-ms", 100).await
    })
    .await;
    let won = claims.iter().filter(|c| matches!(c, Ok(true))).count();
    let lost = claims.iter().filter(|c| matches!(c, Ok(false))).count();
    assert_eq!((won, lost), (1, n - 1), "one claim wins: {claims:?}");
}

/// `n` users sign up in one campaign at once: positions are exactly `1..=n`.
pub async fn concurrent_signups_get_distinct_positions<S: AllStores>(store: Arc<S>, n: usize) {
    let got = race(&store, n, |s, i| async move {
        s.insert_user(user("cs-race-users", &format!("u{i}"), 0))
            .await
    })
    .await;
    let mut positions: Vec<u64> = got
        .into_iter()
        .map(|r| ok("concurrent insert", r))
        .collect();
    positions.sort_unstable();
    let expected: Vec<u64> = (1..=n as u64).collect();
    assert_eq!(positions, expected, "positions are 1..=n, each once");
    let mut stored: Vec<u64> = ok("standings", store.standings("cs-race-users").await)
        .into_iter()
        .map(|s| s.original_position)
        .collect();
    stored.sort_unstable();
    assert_eq!(
        stored, expected,
        "the stored positions are the returned ones"
    );
}

/// `n` tasks verify one pending referral at once: exactly one sees it
/// pending, and it counts once.
pub async fn concurrent_verifications_of_a_referral_have_one_winner<S: AllStores>(
    store: Arc<S>,
    n: usize,
) {
    let c = "cs-race-ref";
    ok(
        "insert",
        store
            .insert_referral(Referral::new(c, "r1", "ann", "bob", at(0)))
            .await,
    );
    let previous = race(&store, n, |s, i| async move {
        s.set_referral_status(c, "r1", ReferralStatus::Verified, at(i as i64))
            .await
    })
    .await;
    let first = previous
        .iter()
        .filter(|p| matches!(p, Ok(ReferralStatus::Pending)))
        .count();
    let later = previous
        .iter()
        .filter(|p| matches!(p, Ok(ReferralStatus::Verified)))
        .count();
    assert_eq!(
        (first, later),
        (1, n - 1),
        "one verification wins: {previous:?}"
    );
    assert_eq!(ok("verified", store.count_verified(c, "ann").await), 1);
}

/// `n` tasks reserve one email at once: exactly one may send.
pub async fn concurrent_reservations_of_an_email_have_one_winner<S: AllStores>(
    store: Arc<S>,
    n: usize,
) {
    let reserved = race(&store, n, |s, _| async move {
        s.reserve("welcome/cs-race-mail/ann", at(0), Duration::from_secs(3600))
            .await
    })
    .await;
    let won = reserved.iter().filter(|r| matches!(r, Ok(true))).count();
    let lost = reserved.iter().filter(|r| matches!(r, Ok(false))).count();
    assert_eq!(
        (won, lost),
        (1, n - 1),
        "one reservation wins: {reserved:?}"
    );
}

/// `n` tasks bump one campaign's ranking version at once: they get
/// `1..=n`, each once.
pub async fn concurrent_ranking_bumps_each_advance_once<S: AllStores>(store: Arc<S>, n: usize) {
    let got = race(&store, n, |s, _| async move {
        s.bump_ranking_version("cs-race-rank").await
    })
    .await;
    let mut versions: Vec<u64> = got.into_iter().map(|r| ok("bump", r)).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=n as u64).collect::<Vec<u64>>());
    assert_eq!(
        ok("version", store.ranking_version("cs-race-rank").await),
        n as u64
    );
}

/// Verifies new referrals `{referrer}-r{k}` of `referrer` through `service`.
async fn verify_referrals<S: AllStores>(
    store: &S,
    service: &PositionService,
    c: &str,
    referrer: &str,
    ks: std::ops::Range<u32>,
) {
    for k in ks {
        let id = format!("{referrer}-r{k}");
        let friend = format!("{id}-friend");
        let referral = Referral::new(c, &id, referrer, friend, at(1));
        store.insert_referral(referral).await.expect("referral");
        service.verify_referral(c, &id, 3).await.expect("verify");
    }
}

/// The stored positions of campaign `c` are `rank_all`'s at `points`.
async fn assert_ranked_by<S: AllStores>(store: &S, c: &str, points: i64) {
    let standings = store.standings(c).await.expect("standings");
    let mut stored: Vec<(String, Option<u64>)> = standings
        .iter()
        .map(|s| (s.user_id.clone(), s.position))
        .collect();
    stored.sort_by_key(|(_, position)| *position);
    let expected: Vec<(String, Option<u64>)> = rank_all(&standings, points)
        .into_iter()
        .map(|(id, rank)| (id, Some(rank)))
        .collect();
    assert_eq!(
        stored, expected,
        "positions are rank_all's at {points} points"
    );
}

/// Two position services (two worker processes) over one store, each with
/// its own `lock` handle on one shared lock: 40 users, 3 points per
/// referral; both rank the campaign, the first verifies 10 referrals of
/// `u40`, then the second 2 of `u20`. The stored positions must be `1..=40`
/// once each. Then the first recalculates with 5 points per referral: the
/// ranking version advances by one and the positions are `rank_all`'s; both
/// services verify one more referral each (the second's cached ranking is
/// stale), the first recalculates again (nothing changes) and verifies one
/// more. A third service recalculating from the store must change nothing
/// (a cached ranking never goes stale across services).
pub async fn position_services_sharing_a_store_agree<S: AllStores>(
    store: Arc<S>,
    first_lock: Arc<dyn CampaignLock>,
    second_lock: Arc<dyn CampaignLock>,
) {
    let campaign_id = format!("shared-{}", uuid::Uuid::new_v4().simple());
    let c = campaign_id.as_str();
    let mut campaign = Campaign::new(c, "acct");
    campaign.points_per_referral = 3;
    store.save_campaign(campaign).await.expect("campaign");
    for i in 1..=40u64 {
        let user = User::new(c, format!("u{i}"), format!("u{i}@example.com"), at(0));
        store.insert_user(user).await.expect("user");
    }
    let stores = DomainStores::from_one(Arc::clone(&store));
    let a = PositionService::new(&stores, Arc::clone(&first_lock));
    let b = PositionService::new(&stores, second_lock);
    a.recalculate(c, None).await.expect("a ranks");
    b.recalculate(c, None).await.expect("b ranks");
    verify_referrals(&*store, &a, c, "u40", 0..10).await;
    verify_referrals(&*store, &b, c, "u20", 0..2).await;
    let standings = store.standings(c).await.expect("standings");
    let mut ranks: Vec<u64> = standings.iter().filter_map(|s| s.position).collect();
    ranks.sort_unstable();
    assert_eq!(
        ranks,
        (1..=40).collect::<Vec<_>>(),
        "positions must be 1..=40 once each: {standings:?}"
    );
    assert_ranked_by(&*store, c, 3).await;

    let version = store.ranking_version(c).await.expect("version");
    let report = a.recalculate(c, Some(5)).await.expect("new points");
    assert_eq!(report.users, 40);
    assert!(report.changed > 0, "5 points move users: {report:?}");
    assert_eq!(
        store.ranking_version(c).await.expect("version"),
        version + 1,
        "a recalculation advances the ranking version once"
    );
    assert_ranked_by(&*store, c, 5).await;
    verify_referrals(&*store, &b, c, "u20", 2..3).await;
    verify_referrals(&*store, &a, c, "u40", 10..11).await;
    let report = a.recalculate(c, None).await.expect("again");
    assert_eq!(report.changed, 0, "nothing to change: {report:?}");
    verify_referrals(&*store, &a, c, "u20", 3..4).await;
    assert_ranked_by(&*store, c, 5).await;

    let fresh = PositionService::new(&stores, first_lock);
    let report = fresh.recalculate(c, None).await.expect("recalculate");
    let standings = store.standings(c).await.expect("standings");
    assert_eq!(
        report.changed, 0,
        "stale positions: {report:?}, {standings:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_conforms() {
        all(Arc::new(MemoryStore::new())).await;
    }
}
