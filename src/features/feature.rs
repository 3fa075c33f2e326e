//! The feature vocabulary: every feature name a contract may use, parsed once at model load.
//!
//! | name | value |
//! |---|---|
//! | `server.rank` | ln(1 + position in the server's list) |
//! | `server.<score\|popularity\|age\|duration>.quantile` | the candidate's mid-rank quantile in (0, 1) among the list's candidates that have the field (highest score / popularity, oldest, longest: nearest 1), 0 without it |
//! | `affinity.<family>.<pos\|neg>.<half-life>` | ln(1 + mean decayed engagement over the candidate's keys) |
//! | `share.<family>.<half-life>` | mean decayed positive engagement on those keys over (the user's total + 1): a share that fades as the engagement does |
//! | `recency.<family>` | 1 / (1 + days since the last positive engagement with one of the keys), 0 if never |
//! | `fatigue.<family>` | ln(1 + most impressions without engagement on one of the keys) |
//! | `count.<family>.<kind>.<half-life>` | ln(1 + mean decayed count of one event kind over the keys; dwell in units of 30 s): e.g. `count.author.hide.30d`, how much this author was hidden |
//! | `seen.<family>` | 1 / (1 + hours since the newest event of any kind, an exposure included, on one of the keys), 0 if never |
//! | `dwell.<family>.<half-life>` | the user's decayed dwell per exposure on the keys (mean over the keys that had exposures) relative to the candidate's `durationMs`, at most 10; 0 without a duration or exposures |
//! | `user.similarity` | cosine of the local user vector and the candidate embedding |
//! | `session.similarity` | cosine of the local session vector (1 h half-life) and the candidate embedding |
//! | `recent.similarity.last` | cosine of the candidate embedding with the newest positively engaged embedding |
//! | `recent.similarity.<max\|mean>.<n>` | best / mean cosine of the candidate embedding with the newest `n` positively engaged embeddings (`n`: 4, 16, 32) |
//! | `user.activity.<half-life>` | ln(1 + the user's total positive engagement) |
//! | `context.hour_sin`, `context.hour_cos` | local time of day on the unit circle |
//!
//! Families: `item`, `author`, `container`, `topic`; half-lives: `1h`, `1d`, `7d`, `30d`; kinds:
//! the event kinds (`impression`, `click`, `dwell`, `like`, `share`, `dismiss`, `hide`).
//!
//! Server fields enter only through the list's own order (rank and quantiles), never as raw
//! magnitudes: a server that rescales its scores, or ships a model whose scores are any
//! increasing function of the old ones, gets the same features, so the same ranking. (A raw
//! `server.score` once made a model trained on one log reverse the server's order on a log
//! whose scores were 8x larger.)

use crate::error::{Error, Result};
use crate::item::{EventKind, Family};
use crate::signals::decay::half_life_index;
use crate::signals::RECENT_CAPACITY;

/// The most a `dwell.*` feature says: dwelling ten times an item's length is a rewatch, and
/// past it the ratio only measures how short the candidate is.
pub const MAX_DWELL_RATIO: f64 = 10.0;

/// The engagement added to the user's total under a `share.*` feature (one click's worth).
pub const SHARE_PRIOR_ENGAGEMENT: f64 = 1.0;

/// How many recent embeddings a `recent.similarity.<max|mean>.<n>` feature may read; the
/// largest is the store's whole ring.
pub const RECENT_COUNTS: [usize; 3] = [4, 16, RECENT_CAPACITY];

/// A numeric field the server sends with each candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerField {
    Score,
    Popularity,
    /// Time since `createdAt`: the oldest candidate has the highest quantile.
    Age,
    /// `durationMs`: the longest candidate has the highest quantile.
    Duration,
}

impl ServerField {
    pub const ALL: [ServerField; 4] =
        [ServerField::Score, ServerField::Popularity, ServerField::Age, ServerField::Duration];

    pub fn name(self) -> &'static str {
        match self {
            ServerField::Score => "score",
            ServerField::Popularity => "popularity",
            ServerField::Age => "age",
            ServerField::Duration => "duration",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    ServerRank,
    ServerQuantile(ServerField),
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
    /// The decayed count of one event kind on the candidate's keys.
    Count {
        family: Family,
        kind: EventKind,
        half_life: usize,
    },
    /// How recently any event (an exposure included) touched one of the keys.
    Seen {
        family: Family,
    },
    /// Dwell per exposure on the keys relative to the candidate's duration.
    DwellRelative {
        family: Family,
        half_life: usize,
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
            ["server", "rank"] => Feature::ServerRank,
            ["server", field, "quantile"] => Feature::ServerQuantile(
                ServerField::ALL.into_iter().find(|f| f.name() == *field).ok_or_else(unknown)?,
            ),
            ["affinity", f, polarity @ ("pos" | "neg"), h] => Feature::Affinity {
                family: family(f)?,
                positive: *polarity == "pos",
                half_life: half_life(h)?,
            },
            ["share", f, h] => Feature::Share { family: family(f)?, half_life: half_life(h)? },
            ["recency", f] => Feature::Recency { family: family(f)? },
            ["fatigue", f] => Feature::Fatigue { family: family(f)? },
            ["count", f, kind, h] => Feature::Count {
                family: family(f)?,
                kind: EventKind::ALL.into_iter().find(|k| k.name() == *kind).ok_or_else(unknown)?,
                half_life: half_life(h)?,
            },
            ["seen", f] => Feature::Seen { family: family(f)? },
            ["dwell", f, h] => Feature::DwellRelative { family: family(f)?, half_life: half_life(h)? },
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
            Feature::ServerRank | Feature::ServerQuantile(_) => FeatureGroup::Server,
            // Impressions without engagement are fatigue; every other kind is engagement.
            Feature::Count { kind: EventKind::Impression, .. } | Feature::Fatigue { .. } => {
                FeatureGroup::Fatigue
            }
            Feature::Affinity { .. }
            | Feature::Share { .. }
            | Feature::Count { .. }
            | Feature::DwellRelative { .. } => FeatureGroup::Affinity,
            Feature::Recency { .. } | Feature::Seen { .. } => FeatureGroup::Recency,
            Feature::UserSimilarity
            | Feature::SessionSimilarity
            | Feature::RecentSimilarity { .. }
            | Feature::RecentSimilarityLast => FeatureGroup::Similarity,
            Feature::UserActivity { .. } | Feature::HourSin | Feature::HourCos => FeatureGroup::Context,
        }
    }

    /// Whether the feature is a local signal about the candidate itself: what the store knows
    /// of its keys, or how its embedding compares with what the user engaged with. Each is
    /// exactly 0 for a candidate the store knows nothing about, and such a candidate keeps its
    /// server prior (see `ranker::residual_scores`). The others describe the request: the
    /// server's fields, the time of day, and the user's overall activity (the same for every
    /// candidate, so one like does not move candidates it says nothing about).
    pub fn is_candidate_signal(self) -> bool {
        !matches!(
            self,
            Feature::ServerRank
                | Feature::ServerQuantile(_)
                | Feature::UserActivity { .. }
                | Feature::HourSin
                | Feature::HourCos
        )
    }

    /// Whether `value` is in the closed interval every value of the feature lies in, up to
    /// f32 rounding, whatever the store holds and whatever the clock says (the fuzzers and
    /// property tests check it: a value outside is a bug). Logarithms of f32 amounts stay
    /// below ln(1 + f32::MAX) ≈ 88.7.
    pub fn admits(self, value: f32) -> bool {
        const LN_1P_F32_MAX: f32 = 88.73;
        const ROUNDING: f32 = 1e-5;
        let (low, high) = match self {
            Feature::ServerRank
            | Feature::Affinity { .. }
            | Feature::Fatigue { .. }
            | Feature::Count { .. }
            | Feature::UserActivity { .. } => (0.0, LN_1P_F32_MAX),
            Feature::ServerQuantile(_)
            | Feature::Share { .. }
            | Feature::Recency { .. }
            | Feature::Seen { .. } => (0.0, 1.0),
            Feature::DwellRelative { .. } => (0.0, MAX_DWELL_RATIO as f32),
            Feature::UserSimilarity
            | Feature::SessionSimilarity
            | Feature::RecentSimilarity { .. }
            | Feature::RecentSimilarityLast
            | Feature::HourSin
            | Feature::HourCos => (-1.0, 1.0),
        };
        value >= low - ROUNDING && value <= high + ROUNDING
    }

    /// Every feature this build knows, by name: the default contract for training.
    pub fn all_names() -> Vec<String> {
        const HALF_LIVES: [&str; 4] = ["1h", "1d", "7d", "30d"];
        let mut names = vec!["server.rank".to_owned()];
        names.extend(ServerField::ALL.map(|f| format!("server.{}.quantile", f.name())));
        for family in Family::ALL {
            let f = family.name();
            for h in HALF_LIVES {
                names.push(format!("affinity.{f}.pos.{h}"));
                names.push(format!("affinity.{f}.neg.{h}"));
                names.push(format!("share.{f}.{h}"));
            }
            names.push(format!("recency.{f}"));
            names.push(format!("fatigue.{f}"));
            for kind in EventKind::ALL {
                names.extend(HALF_LIVES.map(|h| format!("count.{f}.{}.{h}", kind.name())));
            }
            names.push(format!("seen.{f}"));
            names.extend(HALF_LIVES.map(|h| format!("dwell.{f}.{h}")));
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
            "server.score",
            "server.score.quantile.x",
            "server.vibes.quantile",
            "affinity.topic.pos.2d",
            "affinity.planet.pos.1d",
            "recent.similarity.max.5",
            "count.topic.stare.1d",
            "dwell.topic",
            "seen.topic.1d",
            "",
            "a.b.c.d.e",
        ] {
            let error = Feature::parse(name).unwrap_err();
            assert_eq!(error.code(), "UNKNOWN_FEATURE");
            assert!(error.to_string().contains(&format!("`{name}`")), "{error}");
        }
    }
}
