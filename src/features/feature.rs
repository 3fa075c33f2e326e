//! The feature vocabulary: every feature name a contract may use, parsed once at model load.
//!
//! | name | value |
//! |---|---|
//! | `server.score` | the server's score |
//! | `server.rank` | ln(1 + position in the server's list) |
//! | `server.popularity` | ln(1 + popularity) |
//! | `server.age` | ln(1 + hours since creation) |
//! | `affinity.<family>.<pos\|neg>.<half-life>` | ln(1 + mean decayed engagement over the candidate's keys) |
//! | `share.<family>.<half-life>` | mean share of the user's positive engagement on those keys |
//! | `recency.<family>` | 1 / (1 + days since the last positive engagement with one of the keys), 0 if never |
//! | `fatigue.<family>` | ln(1 + most impressions without engagement on one of the keys) |
//! | `user.similarity` | cosine of the local user vector and the candidate embedding |
//! | `session.similarity` | cosine of the local session vector (1 h half-life) and the candidate embedding |
//! | `recent.similarity.last` | cosine of the candidate embedding with the newest positively engaged embedding |
//! | `recent.similarity.<max\|mean>.<n>` | best / mean cosine of the candidate embedding with the newest `n` positively engaged embeddings (`n`: 4, 16, 32) |
//! | `user.activity.<half-life>` | ln(1 + the user's total positive engagement) |
//! | `context.hour_sin`, `context.hour_cos` | local time of day on the unit circle |
//!
//! Families: `item`, `author`, `container`, `topic`; half-lives: `1h`, `1d`, `7d`, `30d`.

use crate::error::{Error, Result};
use crate::item::Family;
use crate::signals::decay::half_life_index;
use crate::signals::RECENT_CAPACITY;

/// How many recent embeddings a `recent.similarity.<max|mean>.<n>` feature may read; the
/// largest is the store's whole ring.
pub const RECENT_COUNTS: [usize; 3] = [4, 16, RECENT_CAPACITY];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    ServerScore,
    ServerRank,
    ServerPopularity,
    ServerAge,
    Affinity {
        family: Family,
        positive: bool,
        half_life: usize,
    },
    Share {
        family: Family,
        half_life: usize,
    },
    Recency {
        family: Family,
    },
    Fatigue {
        family: Family,
    },
    UserSimilarity,
    SessionSimilarity,
    /// Best (`mean: false`) or mean cosine with the newest `count` recent embeddings.
    RecentSimilarity {
        mean: bool,
        count: usize,
    },
    RecentSimilarityLast,
    UserActivity {
        half_life: usize,
    },
    HourSin,
    HourCos,
}

/// Features grouped by where their information comes from; explanations report per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureGroup {
    Server,
    Affinity,
    Recency,
    Fatigue,
    Similarity,
    Context,
}

impl FeatureGroup {
    pub const ALL: [FeatureGroup; 6] = [
        FeatureGroup::Server,
        FeatureGroup::Affinity,
        FeatureGroup::Recency,
        FeatureGroup::Fatigue,
        FeatureGroup::Similarity,
        FeatureGroup::Context,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeatureGroup::Server => "server",
            FeatureGroup::Affinity => "affinity",
            FeatureGroup::Recency => "recency",
            FeatureGroup::Fatigue => "fatigue",
            FeatureGroup::Similarity => "similarity",
            FeatureGroup::Context => "context",
        }
    }
}

impl Feature {
    pub fn parse(name: &str) -> Result<Feature> {
        let unknown = || Error::UnknownFeature(name.to_owned());
        let family = |s: &str| Family::from_name(s).ok_or_else(unknown);
        let half_life = |s: &str| half_life_index(s).ok_or_else(unknown);
        let parts: Vec<&str> = name.split('.').collect();
        Ok(match parts.as_slice() {
            ["server", "score"] => Feature::ServerScore,
            ["server", "rank"] => Feature::ServerRank,
            ["server", "popularity"] => Feature::ServerPopularity,
            ["server", "age"] => Feature::ServerAge,
            ["affinity", f, polarity @ ("pos" | "neg"), h] => Feature::Affinity {
                family: family(f)?,
                positive: *polarity == "pos",
                half_life: half_life(h)?,
            },
            ["share", f, h] => Feature::Share { family: family(f)?, half_life: half_life(h)? },
            ["recency", f] => Feature::Recency { family: family(f)? },
            ["fatigue", f] => Feature::Fatigue { family: family(f)? },
            ["user", "similarity"] => Feature::UserSimilarity,
            ["session", "similarity"] => Feature::SessionSimilarity,
            ["recent", "similarity", kind @ ("max" | "mean"), n] => Feature::RecentSimilarity {
                mean: *kind == "mean",
                count: RECENT_COUNTS.iter().find(|c| c.to_string() == *n).copied().ok_or_else(unknown)?,
            },
            ["recent", "similarity", "last"] => Feature::RecentSimilarityLast,
            ["user", "activity", h] => Feature::UserActivity { half_life: half_life(h)? },
            ["context", "hour_sin"] => Feature::HourSin,
            ["context", "hour_cos"] => Feature::HourCos,
            _ => return Err(unknown()),
        })
    }

    pub fn group(self) -> FeatureGroup {
        match self {
            Feature::ServerScore | Feature::ServerRank | Feature::ServerPopularity | Feature::ServerAge => {
                FeatureGroup::Server
            }
            Feature::Affinity { .. } | Feature::Share { .. } => FeatureGroup::Affinity,
            Feature::Recency { .. } => FeatureGroup::Recency,
            Feature::Fatigue { .. } => FeatureGroup::Fatigue,
            Feature::UserSimilarity
            | Feature::SessionSimilarity
            | Feature::RecentSimilarity { .. }
            | Feature::RecentSimilarityLast => FeatureGroup::Similarity,
            Feature::UserActivity { .. } | Feature::HourSin | Feature::HourCos => FeatureGroup::Context,
        }
    }

    /// Every feature this build knows, by name: the default contract for training.
    pub fn all_names() -> Vec<String> {
        const HALF_LIVES: [&str; 4] = ["1h", "1d", "7d", "30d"];
        let mut names: Vec<String> =
            ["server.score", "server.rank", "server.popularity", "server.age"].map(String::from).into();
        for family in Family::ALL {
            let f = family.name();
            for h in HALF_LIVES {
                names.push(format!("affinity.{f}.pos.{h}"));
                names.push(format!("affinity.{f}.neg.{h}"));
                names.push(format!("share.{f}.{h}"));
            }
            names.push(format!("recency.{f}"));
            names.push(format!("fatigue.{f}"));
        }
        names.extend(["user.similarity", "session.similarity", "recent.similarity.last"].map(String::from));
        for kind in ["max", "mean"] {
            names.extend(RECENT_COUNTS.map(|n| format!("recent.similarity.{kind}.{n}")));
        }
        names.extend(HALF_LIVES.map(|h| format!("user.activity.{h}")));
        names.extend(["context.hour_sin".into(), "context.hour_cos".into()]);
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_parses() {
        for name in Feature::all_names() {
            Feature::parse(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn unknown_names_are_named_in_the_error() {
        for name in [
            "server.magic",
            "affinity.topic.pos.2d",
            "affinity.planet.pos.1d",
            "recent.similarity.max.5",
            "",
            "a.b.c.d.e",
        ] {
            let error = Feature::parse(name).unwrap_err();
            assert_eq!(error.code(), "UNKNOWN_FEATURE");
            assert!(error.to_string().contains(&format!("`{name}`")), "{error}");
        }
    }
}
