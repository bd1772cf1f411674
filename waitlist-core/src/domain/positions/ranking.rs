//! The ranking rule, and the straightforward full ranking it is checked against.
//!
//! # Ranking
//!
//! 1. Every user gets a **score**:
//!    `original_position − verified_referrals × points_per_referral`
//!    (the formula of the jobs document; saturating, so it never overflows).
//! 2. Users are ordered by **(score, original_position, user_id)**, all
//!    ascending: a lower score is better; on equal scores the user who signed
//!    up first wins; on equal original positions (which a well-formed campaign
//!    never has) the smaller user id wins. The order is total, so the
//!    ranking is deterministic.
//! 3. A user's **position** is their rank in that order: the positions of a
//!    campaign with `n` users are exactly `1..=n`, each used once. A position
//!    is therefore never below 1, however many referrals a user has (the
//!    floor), and never above `n`.

use std::cmp::Ordering;

use crate::store::Standing;

/// The score of the jobs document's formula, saturating.
pub fn score(original_position: u64, verified_referrals: u64, points_per_referral: i64) -> i64 {
    let original = i64::try_from(original_position).unwrap_or(i64::MAX);
    let referrals = i64::try_from(verified_referrals).unwrap_or(i64::MAX);
    original.saturating_sub(referrals.saturating_mul(points_per_referral))
}

/// Compares two standings by the ranking order.
pub fn compare(a: &Standing, b: &Standing, points_per_referral: i64) -> Ordering {
    let key = |s: &Standing| {
        (
            score(
                s.original_position,
                s.verified_referrals,
                points_per_referral,
            ),
            s.original_position,
        )
    };
    key(a).cmp(&key(b)).then_with(|| a.user_id.cmp(&b.user_id))
}

/// Ranks every standing from scratch by sorting: `(user_id, position)` in
/// position order. O(n log n); the reference the incremental path is proven
/// equal to.
pub fn rank_all(standings: &[Standing], points_per_referral: i64) -> Vec<(String, u64)> {
    let mut sorted: Vec<&Standing> = standings.iter().collect();
    sorted.sort_by(|a, b| compare(a, b, points_per_referral));
    sorted
        .into_iter()
        .zip(1u64..)
        .map(|(s, p)| (s.user_id.clone(), p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrals_move_a_user_up_and_ties_go_to_the_earlier_signup() {
        let standings = vec![
            Standing::new("a", 1, 0),
            Standing::new("b", 2, 0),
            Standing::new("c", 3, 2), // score 1, ties with a; a signed up first
        ];
        let ranked = rank_all(&standings, 1);
        assert_eq!(
            ranked,
            vec![("a".into(), 1), ("c".into(), 2), ("b".into(), 3)]
        );
    }

    #[test]
    fn positions_never_go_below_one_however_many_referrals() {
        let standings = vec![Standing::new("a", 1, 0), Standing::new("b", 2, 1_000_000)];
        let ranked = rank_all(&standings, i64::MAX);
        assert_eq!(ranked[0], ("b".into(), 1));
        assert_eq!(ranked[1], ("a".into(), 2));
        assert_eq!(score(2, u64::MAX, i64::MAX), 2 - i64::MAX);
        assert_eq!(score(0, u64::MAX, -1), i64::MAX);
    }

    #[test]
    fn equal_original_positions_break_ties_by_user_id() {
        let standings = vec![Standing::new("z", 5, 0), Standing::new("m", 5, 0)];
        assert_eq!(rank_all(&standings, 1)[0].0, "m");
    }
}
