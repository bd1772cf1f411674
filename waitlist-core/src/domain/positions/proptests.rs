//! Property test: the incremental index always equals a full re-ranking.

use proptest::prelude::*;

use super::{rank_all, PositionIndex};
use crate::store::Standing;

#[derive(Debug, Clone)]
enum Op {
    /// One more verified referral for user `i % n`.
    Referral(usize),
    /// A referral of user `i % n` was blocked after counting.
    Unverify(usize),
    /// A new user signs up with this original position.
    Signup(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<usize>().prop_map(Op::Referral),
        1 => any::<usize>().prop_map(Op::Unverify),
        1 => (1u64..400).prop_map(Op::Signup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn incremental_updates_equal_full_recalculation(
        originals in proptest::collection::vec(1u64..400, 1..60),
        points in -2i64..6,
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let mut standings: Vec<Standing> = originals
            .iter()
            .enumerate()
            .map(|(i, &o)| Standing::new(format!("u{i}"), o, 0))
            .collect();
        let mut index = PositionIndex::build(points, standings.clone());
        for op in ops {
            let n = standings.len();
            match op {
                Op::Referral(i) => {
                    let s = &mut standings[i % n];
                    s.verified_referrals += 1;
                    let before = index.position(&s.user_id);
                    let change = index.set_verified_referrals(&s.user_id, s.verified_referrals);
                    let change = change.expect("known user");
                    prop_assert_eq!(Some(change.old_position), before);
                }
                Op::Unverify(i) => {
                    let s = &mut standings[i % n];
                    s.verified_referrals = s.verified_referrals.saturating_sub(1);
                    index.set_verified_referrals(&s.user_id, s.verified_referrals);
                }
                Op::Signup(original) => {
                    let s = Standing::new(format!("u{n}"), original, 0);
                    index.insert(s.clone());
                    standings.push(s);
                }
            }
            let full = rank_all(&standings, points);
            prop_assert_eq!(index.positions(), full.clone());
            for (user, position) in &full {
                prop_assert_eq!(index.position(user), Some(*position));
            }
        }
        // Full recalculation is idempotent: rebuilding gives the same ranking.
        let rebuilt = PositionIndex::build(points, standings.clone());
        prop_assert_eq!(rebuilt.positions(), index.positions());
    }

    #[test]
    fn the_shifted_range_is_exactly_the_users_who_moved(
        originals in proptest::collection::vec(1u64..200, 2..40),
        who in any::<usize>(),
        referrals in 1u64..50,
    ) {
        let standings: Vec<Standing> = originals
            .iter()
            .enumerate()
            .map(|(i, &o)| Standing::new(format!("u{i}"), o, 0))
            .collect();
        let mut index = PositionIndex::build(1, standings.clone());
        let before = index.positions();
        let user = standings[who % standings.len()].user_id.clone();
        let change = index.set_verified_referrals(&user, referrals).expect("known");
        let after: std::collections::HashMap<String, u64> = index.positions().into_iter().collect();
        let range = change.shifted_range();
        for (u, old) in before {
            let new = after[&u];
            if u == user {
                prop_assert_eq!(new, change.new_position);
            } else if range.contains(&old) {
                prop_assert_eq!(new, old + 1);
            } else {
                prop_assert_eq!(new, old);
            }
        }
    }
}
