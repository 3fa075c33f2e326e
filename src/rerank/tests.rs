use super::*;
use crate::item::{Candidate, Item};

/// `super::order` on a list of candidate objects.
fn order(scores: &[f32], candidates: &[Candidate], constraints: &Constraints) -> Vec<u32> {
    super::order(scores, &CandidateColumns::from_candidates(candidates), constraints)
}

fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            item: Item { id: format!("c{i}"), author: Some(format!("a{}", i % 2)), ..Item::default() },
            ..Candidate::default()
        })
        .collect()
}

fn is_permutation(order: &[u32], n: usize) -> bool {
    let mut seen = vec![false; n];
    order.len() == n && order.iter().all(|&i| !std::mem::replace(&mut seen[i as usize], true))
}

#[test]
fn sorts_by_score_with_server_rank_breaking_ties() {
    let scores = [0.1, 0.9, 0.5, 0.9];
    assert_eq!(order(&scores, &candidates(4), &Constraints::default()), vec![1, 3, 2, 0]);
}

#[test]
fn pinned_candidates_keep_their_position() {
    let mut list = candidates(5);
    list[0].pinned = true;
    list[3].pinned = true;
    let scores = [0.0, 0.1, 0.2, 0.3, 0.9];
    let result = order(&scores, &list, &Constraints::default());
    assert_eq!(result, vec![0, 4, 2, 3, 1]);
}

#[test]
fn no_candidate_moves_further_than_the_bound() {
    let n = 30;
    let list = candidates(n);
    // Reverse preference: everyone wants to move as far as possible.
    let scores: Vec<f32> = (0..n).map(|i| i as f32).collect();
    for d in [0, 1, 2, 5] {
        let constraints = Constraints { max_displacement: Some(d), ..Constraints::default() };
        let result = order(&scores, &list, &constraints);
        assert!(is_permutation(&result, n));
        for (position, &i) in result.iter().enumerate() {
            assert!((i as usize).abs_diff(position) <= d, "d={d}: {result:?}");
        }
    }
}

#[test]
fn displacement_bound_holds_around_pins() {
    let n = 12;
    let mut list = candidates(n);
    for i in [3, 4, 8] {
        list[i].pinned = true;
    }
    let scores: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let constraints = Constraints { max_displacement: Some(2), ..Constraints::default() };
    let result = order(&scores, &list, &constraints);
    assert!(is_permutation(&result, n));
    for (position, &i) in result.iter().enumerate() {
        assert!((i as usize).abs_diff(position) <= 2, "{result:?}");
        if list[i as usize].pinned {
            assert_eq!(i as usize, position);
        }
    }
}

#[test]
fn diversity_limits_runs_of_one_author() {
    let list = candidates(8); // authors alternate a0, a1
                              // Author a0 (even indices) scores highest.
    let scores: Vec<f32> =
        (0..8).map(|i| if i % 2 == 0 { 10.0 - i as f32 } else { 1.0 - i as f32 * 0.1 }).collect();
    let constraints = Constraints {
        diversity: Some(Diversity { by: DiversityKey::Author, max_run: 2 }),
        ..Constraints::default()
    };
    let result = order(&scores, &list, &constraints);
    assert!(is_permutation(&result, 8));
    assert_eq!(&result[..3], &[0, 2, 1], "a third a0 in a row is deferred");
    let authors: Vec<_> = result.iter().map(|&i| i % 2).collect();
    for window in authors.windows(3).take(4) {
        assert!(!(window[0] == window[1] && window[1] == window[2]), "{result:?}");
    }
}

// proptest is a native-only dev-dependency (its RNG has no wasm32 entropy source).
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A list with random pins and authors, its scores (any f32, NaN and infinities included)
    /// and random constraints.
    fn any_request() -> impl Strategy<Value = (Vec<Candidate>, Vec<f32>, Constraints)> {
        let candidate = (any::<bool>(), proptest::option::of(0..4u8), any::<f32>());
        let constraints =
            (proptest::option::of(0..8usize), proptest::option::of((proptest::bool::ANY, 1..4usize)));
        (proptest::collection::vec(candidate, 0..60), constraints).prop_map(
            |(list, (max_displacement, diversity))| {
                let candidates = list
                    .iter()
                    .enumerate()
                    .map(|(i, &(pinned, author, _))| Candidate {
                        item: Item {
                            id: format!("c{i}"),
                            author: author.map(|a| format!("a{a}")),
                            containers: vec![format!("g{}", i % 3)],
                            ..Item::default()
                        },
                        pinned,
                        ..Candidate::default()
                    })
                    .collect();
                let scores = list.iter().map(|&(_, _, score)| score).collect();
                let diversity = diversity.map(|(by_author, max_run)| Diversity {
                    by: if by_author { DiversityKey::Author } else { DiversityKey::Container },
                    max_run,
                });
                (candidates, scores, Constraints { max_displacement, diversity })
            },
        )
    }

    proptest! {
        #[test]
        fn the_order_is_a_permutation_that_keeps_pins_and_the_displacement_bound(
            (candidates, scores, constraints) in any_request(),
        ) {
            let result = order(&scores, &candidates, &constraints);
            prop_assert!(is_permutation(&result, candidates.len()), "{:?}", result);
            for (position, &i) in result.iter().enumerate() {
                if candidates[i as usize].pinned {
                    prop_assert_eq!(i as usize, position, "a pinned candidate moved");
                }
                if let Some(d) = constraints.max_displacement {
                    prop_assert!((i as usize).abs_diff(position) <= d, "moved further than {}: {:?}", d, result);
                }
            }
            prop_assert_eq!(order(&scores, &candidates, &constraints), result, "same input, same output");
        }
    }
}
