//! The KuaiRand adapter: the KuaiRand-Pure feed log (`events.csv.gz`, `items.csv`; see the
//! data folder's SOURCE.md) as the event-log format, both tables. Every exposure is an
//! `impression`, and what the user then did are events at the exposure's time: `click`,
//! `dwell` (the play time), `like` (and a follow, which the store has no kind for, as a like
//! of that video: it bears on the author as a like does), `share` (a forward), `hide` (the
//! explicit negative, `is_hate`). A video's author is its item's author, its tags its topics;
//! there are no containers or embeddings.
//!
//! The requests follow the protocol fixed in `KuaiRandProtocol` (defaults are the model card's):
//! the feed's logged order is the server's order, and the server's fields are computed from
//! all users' exposures as a server would have them, a day late.

use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::event_log::{LoggedEvent, LoggedRequest, RequestLog, Split};
use crate::item::{Candidate, Event, EventKind, Item};
use crate::signals::decay::DAY_MS;

const HOUR_MS: f64 = 3_600_000.0;

/// How the adapter turns exposures into requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KuaiRandProtocol {
    /// A longer gap between a user's exposures starts a new request.
    pub session_gap_ms: f64,
    /// A request this many exposures after the last one.
    pub request_every: usize,
    /// Candidates: the user's next this many exposures (fewer at the split's end)...
    pub candidates: usize,
    /// ... and a request needs at least this many.
    pub min_candidates: usize,
    /// Half-life of the server's long-view count.
    pub half_life_ms: f64,
    /// The server sees other users' exposures this late.
    pub lag_ms: f64,
    /// Exposures at or after this quantile of their times are validation ...
    pub validation_from: f64,
    /// ... and at or after this one test.
    pub test_from: f64,
}

impl Default for KuaiRandProtocol {
    fn default() -> Self {
        KuaiRandProtocol {
            session_gap_ms: 6.0 * HOUR_MS,
            request_every: 5,
            candidates: 10,
            min_candidates: 2,
            half_life_ms: 3.0 * DAY_MS,
            lag_ms: DAY_MS,
            validation_from: 0.7,
            test_from: 0.85,
        }
    }
}

impl KuaiRandProtocol {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.session_gap_ms > 0.0 && self.half_life_ms > 0.0 && self.lag_ms >= 0.0) {
            return Err("the gap and the half-life must be positive, the lag not negative".into());
        }
        if self.request_every == 0 || self.min_candidates < 2 || self.candidates < self.min_candidates {
            return Err("need --request-every ≥ 1 and 2 ≤ --min-candidates ≤ --candidates".into());
        }
        if !(0.0 < self.validation_from && self.validation_from <= self.test_from && self.test_from < 1.0) {
            return Err("the split needs 0 < --validation-from <= --test-from < 1".into());
        }
        Ok(())
    }

    /// The protocol in words, for the requests table's description (quoted by the card).
    pub fn describe(&self) -> Vec<String> {
        vec![
            "Events: every exposure of the KuaiRand-Pure standard log is an impression; a click, the play time (a dwell), a like, a follow (recorded as a like), a forward (a share) and `is_hate` (a hide) are events at the exposure's time. Exact duplicate rows are removed; each user's rows are replayed in time order. Items: the video id, its author, its tags as topics; no containers or embeddings. Comments are not used.".into(),
            format!(
                "Requests: at a user's first exposure, at the first exposure after a gap over {} h, and {} exposures after the last request. Candidates: the user's next ≤ {} distinct videos exposed (at least {}) within the request's own split, in logged order, which is the server's order; label: `long_view` (play ≥ min(duration, 18 s)).",
                self.session_gap_ms / HOUR_MS, self.request_every, self.candidates, self.min_candidates
            ),
            format!(
                "Server fields, from all users' exposures strictly before request time − {} h: popularity = the video's long-view count decayed with a {}-day half-life; server score = its long-view rate, (long views + 1) / (exposures + 2); created at = its upload date; duration = its length. (The lagged click rate of the protocol has no candidate field and is not sent.)",
                self.lag_ms / HOUR_MS, self.half_life_ms / DAY_MS
            ),
            format!(
                "Split by global time: requests at or after the {} quantile of the exposures' times are test, [{}, {}) validation, earlier ones train. NDCG is over requests with both a long view and another candidate.",
                self.test_from, self.validation_from, self.test_from
            ),
        ]
    }
}

/// One exposure row of `events.csv.gz`, with the columns the adapter uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Exposure {
    user: u32,
    video: u32,
    at: f64,
    click: bool,
    like: bool,
    follow: bool,
    forward: bool,
    hate: bool,
    long_view: bool,
    play_ms: f64,
}

/// A video of `items.csv`.
#[derive(Debug, Clone, Default)]
struct Video {
    item: Item,
    uploaded_at: Option<f64>,
    duration_ms: Option<f64>,
}

fn parse<T: std::str::FromStr>(
    record: &csv::StringRecord,
    headers: &HashMap<String, usize>,
    name: &str,
    row: usize,
) -> Result<T, String> {
    let column = headers.get(name).ok_or_else(|| format!("no column `{name}`"))?;
    let text = record.get(*column).unwrap_or("").trim();
    text.parse().map_err(|_| format!("row {row}: bad {name} `{text}`"))
}

fn headers(reader: &mut csv::Reader<impl std::io::Read>) -> Result<HashMap<String, usize>, String> {
    let headers = reader.headers().map_err(|e| e.to_string())?;
    Ok(headers.iter().enumerate().map(|(i, h)| (h.trim().to_owned(), i)).collect())
}

/// Days since the epoch of a `YYYY-MM-DD` date, in ms (UTC midnight).
fn date_ms(text: &str) -> Option<f64> {
    let mut parts = text.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as f64 * DAY_MS)
}

fn read_videos(dir: &Path) -> Result<HashMap<u32, Video>, String> {
    let path = dir.join("items.csv");
    let at = |e: String| format!("{}: {e}", path.display());
    let mut reader = csv::Reader::from_path(&path).map_err(|e| at(e.to_string()))?;
    let headers = headers(&mut reader).map_err(at)?;
    let mut videos = HashMap::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| at(e.to_string()))?;
        let id: u32 = parse(&record, &headers, "video_id", row + 2).map_err(at)?;
        let text = |name: &str| headers.get(name).and_then(|&c| record.get(c)).unwrap_or("").trim();
        let author = Some(text("author_id")).filter(|a| !a.is_empty()).map(str::to_owned);
        let topics =
            text("tags").split(';').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
        let item = Item { id: id.to_string(), author, topics, ..Item::default() };
        let duration_ms = text("video_duration").parse::<f64>().ok().filter(|d| d.is_finite() && *d > 0.0);
        videos.insert(id, Video { item, uploaded_at: date_ms(text("upload_dt")), duration_ms });
    }
    Ok(videos)
}

/// The exposures, exact duplicate rows removed, sorted by user, time and file order.
fn read_exposures(dir: &Path) -> Result<Vec<Exposure>, String> {
    let path = dir.join("events.csv.gz");
    let at = |e: String| format!("{}: {e}", path.display());
    let file = std::fs::File::open(&path).map_err(|e| at(e.to_string()))?;
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(BufReader::new(file)));
    let headers = headers(&mut reader).map_err(at)?;
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut exposures = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| at(e.to_string()))?;
        let row = row + 2;
        let flag = |name: &str| parse::<u8>(&record, &headers, name, row).map(|v| v > 0).map_err(at);
        let exposure = Exposure {
            user: parse(&record, &headers, "user_id", row).map_err(at)?,
            video: parse(&record, &headers, "video_id", row).map_err(at)?,
            at: parse(&record, &headers, "time_ms", row).map_err(at)?,
            click: flag("is_click")?,
            like: flag("is_like")?,
            follow: flag("is_follow")?,
            forward: flag("is_forward")?,
            hate: flag("is_hate")?,
            long_view: flag("long_view")?,
            play_ms: parse(&record, &headers, "play_time_ms", row).map_err(at)?,
        };
        if !exposure.at.is_finite() || exposure.at < 0.0 || !exposure.play_ms.is_finite() {
            return Err(at(format!("row {row}: a time that is not one")));
        }
        // Exact duplicates (all columns equal) are the release's artefacts, not exposures.
        if seen.insert(record.iter().map(str::to_owned).collect()) {
            exposures.push(exposure);
        }
    }
    exposures.sort_by(|a, b| a.user.cmp(&b.user).then(a.at.total_cmp(&b.at)));
    Ok(exposures)
}

/// The events of one exposure, in the order a client would record them.
fn exposure_events(exposure: &Exposure, item: &Item) -> Vec<Event> {
    let event = |kind, dwell_ms| Event { kind, item: item.clone(), at: exposure.at, dwell_ms };
    let mut events = vec![event(EventKind::Impression, None)];
    let flags = [
        (exposure.click, EventKind::Click),
        (exposure.like, EventKind::Like),
        (exposure.follow, EventKind::Like),
        (exposure.forward, EventKind::Share),
        (exposure.hate, EventKind::Hide),
    ];
    if exposure.play_ms > 0.0 {
        events.push(event(EventKind::Dwell, Some(exposure.play_ms)));
    }
    events.extend(flags.iter().filter(|(on, _)| *on).map(|&(_, kind)| event(kind, None)));
    events
}

/// The server's view of every video: long views and exposures so far, as of a lagged time.
struct FieldServer<'a> {
    /// All exposures in time order.
    by_time: Vec<&'a Exposure>,
    cursor: usize,
    /// Decayed long views as `sum 2^((t - origin) / h)`, read at any time by one factor.
    long_views_decayed: HashMap<u32, f64>,
    long_views: HashMap<u32, u32>,
    exposures: HashMap<u32, u32>,
    origin: f64,
    half_life_ms: f64,
}

impl<'a> FieldServer<'a> {
    fn new(exposures: &'a [Exposure], half_life_ms: f64) -> Self {
        let mut by_time: Vec<&Exposure> = exposures.iter().collect();
        by_time.sort_by(|a, b| a.at.total_cmp(&b.at));
        let origin = by_time.first().map_or(0.0, |e| e.at);
        FieldServer {
            by_time,
            cursor: 0,
            long_views_decayed: HashMap::new(),
            long_views: HashMap::new(),
            exposures: HashMap::new(),
            origin,
            half_life_ms,
        }
    }

    /// Absorbs every exposure strictly before `until`.
    fn advance_to(&mut self, until: f64) {
        while let Some(&exposure) = self.by_time.get(self.cursor) {
            if exposure.at >= until {
                break;
            }
            *self.exposures.entry(exposure.video).or_default() += 1;
            if exposure.long_view {
                *self.long_views.entry(exposure.video).or_default() += 1;
                *self.long_views_decayed.entry(exposure.video).or_default() +=
                    ((exposure.at - self.origin) / self.half_life_ms).exp2();
            }
            self.cursor += 1;
        }
    }

    /// (decayed long views, smoothed long-view rate) of a video as of `now`.
    fn fields(&self, video: u32, now: f64) -> (f32, f32) {
        let decayed = self.long_views_decayed.get(&video).copied().unwrap_or(0.0)
            * (-(now - self.origin) / self.half_life_ms).exp2();
        let long_views = f64::from(self.long_views.get(&video).copied().unwrap_or(0));
        let exposures = f64::from(self.exposures.get(&video).copied().unwrap_or(0));
        (decayed as f32, ((long_views + 1.0) / (exposures + 2.0)) as f32)
    }
}

/// The timestamp below which a fraction `q` of the (time-sorted) exposures fall.
fn time_quantile(sorted_times: &[f64], q: f64) -> f64 {
    sorted_times
        .get(((sorted_times.len() as f64 * q) as usize).min(sorted_times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// Reads the KuaiRand folder into the two tables (events in per-user time order).
pub fn load(dir: &Path, protocol: &KuaiRandProtocol) -> Result<(Vec<LoggedEvent>, RequestLog), String> {
    protocol.validate()?;
    let videos = read_videos(dir)?;
    let exposures = read_exposures(dir)?;
    let mut times: Vec<f64> = exposures.iter().map(|e| e.at).collect();
    times.sort_by(f64::total_cmp);
    let validation_from = time_quantile(&times, protocol.validation_from);
    let test_from = time_quantile(&times, protocol.test_from);
    let split_of = |at: f64| {
        if at >= test_from {
            Split::Test
        } else if at >= validation_from {
            Split::Validation
        } else {
            Split::Train
        }
    };
    let unknown = Video::default();
    let video = |id: u32| videos.get(&id).unwrap_or(&unknown);
    let item_of = |id: u32| {
        let video = video(id);
        if video.item.id.is_empty() {
            Item { id: id.to_string(), ..Item::default() }
        } else {
            video.item.clone()
        }
    };

    let mut events = Vec::new();
    for exposure in &exposures {
        let item = item_of(exposure.video);
        events.extend(
            exposure_events(exposure, &item)
                .into_iter()
                .map(|event| LoggedEvent { user: exposure.user, event }),
        );
    }

    // Request points per user, then the server's fields in global time order.
    let mut points: Vec<(usize, usize)> = Vec::new(); // (first exposure, one past the last candidate)
    let mut start = 0;
    while start < exposures.len() {
        let user = exposures[start].user;
        let end = start + exposures[start..].iter().take_while(|e| e.user == user).count();
        let mut last: Option<usize> = None;
        for k in start..end {
            let gap_before = k > start && exposures[k].at - exposures[k - 1].at > protocol.session_gap_ms;
            let due = match last {
                None => true,
                Some(l) => gap_before || k - l >= protocol.request_every,
            };
            if !due {
                continue;
            }
            last = Some(k);
            let split = split_of(exposures[k].at);
            let mut seen = HashSet::new();
            let mut stop = k;
            let mut count = 0;
            while stop < end && count < protocol.candidates && split_of(exposures[stop].at) == split {
                if seen.insert(exposures[stop].video) {
                    count += 1;
                }
                stop += 1;
            }
            if count >= protocol.min_candidates {
                points.push((k, stop));
            }
        }
        start = end;
    }
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| exposures[points[a].0].at.total_cmp(&exposures[points[b].0].at).then(a.cmp(&b)));
    let mut server = FieldServer::new(&exposures, protocol.half_life_ms);
    let mut requests: Vec<Option<LoggedRequest>> = vec![None; points.len()];
    for p in order {
        let (first, stop) = points[p];
        let at = exposures[first].at;
        server.advance_to(at - protocol.lag_ms);
        let mut seen = HashSet::new();
        let (mut candidates, mut labels) = (Vec::new(), Vec::new());
        for exposure in exposures[first..stop].iter().filter(|e| seen.insert(e.video)) {
            let (popularity, score) = server.fields(exposure.video, at - protocol.lag_ms);
            let video = video(exposure.video);
            candidates.push(Candidate {
                item: item_of(exposure.video),
                server_score: Some(score),
                popularity: Some(popularity),
                created_at: video.uploaded_at,
                duration_ms: video.duration_ms,
                pinned: false,
            });
            labels.push(f32::from(u8::from(exposure.long_view)));
        }
        let split = Some(split_of(at));
        requests[p] = Some(LoggedRequest { user: exposures[first].user, at, split, candidates, labels });
    }
    let requests = requests.into_iter().flatten().collect();
    Ok((events, RequestLog { requests, description: protocol.describe() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_midnights() {
        assert_eq!(date_ms("1970-01-01"), Some(0.0));
        assert_eq!(date_ms("2022-04-10"), Some(1_649_548_800_000.0));
        assert_eq!(date_ms("2022-13-01"), None);
        assert_eq!(date_ms("soon"), None);
    }

    #[test]
    fn an_exposure_is_an_impression_and_its_engagements_at_its_time() {
        let exposure = Exposure {
            user: 1,
            video: 2,
            at: 5.0,
            click: true,
            like: false,
            follow: true,
            forward: false,
            hate: true,
            long_view: true,
            play_ms: 20_000.0,
        };
        let item = Item { id: "2".into(), ..Item::default() };
        let kinds: Vec<(EventKind, Option<f64>)> =
            exposure_events(&exposure, &item).iter().map(|e| (e.kind, e.dwell_ms)).collect();
        assert_eq!(
            kinds,
            [
                (EventKind::Impression, None),
                (EventKind::Dwell, Some(20_000.0)),
                (EventKind::Click, None),
                (EventKind::Like, None),
                (EventKind::Hide, None)
            ]
        );
        assert!(exposure_events(&exposure, &item).iter().all(|e| e.at == 5.0));
    }

    /// A tiny KuaiRand folder: user 1 has 12 exposures, a 7-hour gap after the 8th.
    fn folder() -> std::path::PathBuf {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("localrank-kuairand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut items =
            String::from("video_id,author_id,music_id,video_type,upload_dt,video_duration,tags\n");
        for v in 0..6 {
            items.push_str(&format!(
                "{v},{},0,NORMAL,2022-04-10,{}.0,{};7\n",
                100 + v % 2,
                10_000 * (v + 1),
                v % 3
            ));
        }
        std::fs::write(dir.join("items.csv"), items).unwrap();
        let mut rows = String::from("user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter,is_rand,tab\n");
        let base = 1_650_000_000_000.0_f64;
        for k in 0..12u32 {
            let at = base + f64::from(k) * 60_000.0 + if k >= 8 { 7.0 * HOUR_MS } else { 0.0 };
            let long = u8::from(k % 3 == 0);
            let row = format!(
                "1,{},20220425,1800,{at},{long},0,0,0,0,0,{long},{},10000,0,0,0,0,1\n",
                k % 6,
                1000 * (k + 1)
            );
            rows.push_str(&row);
            if k == 3 {
                rows.push_str(&row); // an exact duplicate
            }
        }
        let gz = std::fs::File::create(dir.join("events.csv.gz")).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
        encoder.write_all(rows.as_bytes()).unwrap();
        encoder.finish().unwrap();
        dir
    }

    #[test]
    fn requests_follow_the_protocol() {
        let protocol =
            KuaiRandProtocol { validation_from: 0.98, test_from: 0.99, ..KuaiRandProtocol::default() };
        let (events, log) = load(&folder(), &protocol).unwrap();
        // 12 exposures (the duplicate dropped), 4 long views with clicks and 12 dwells.
        let impressions = events.iter().filter(|e| e.event.kind == EventKind::Impression).count();
        assert_eq!(impressions, 12);
        assert_eq!(events.len(), 12 + 4 + 12);
        // Requests at exposure 0, 5 (five later), 8 (after the gap) and then none at 13.
        let firsts: Vec<f64> = log.requests.iter().map(|r| r.at).collect();
        let base = 1_650_000_000_000.0;
        assert_eq!(firsts, [base, base + 5.0 * 60_000.0, base + 8.0 * 60_000.0 + 7.0 * HOUR_MS]);
        // The last exposure is the test split (the 0.99 quantile of 12 times): the third
        // request's candidates stop before it.
        let first = &log.requests[0];
        assert_eq!(first.candidates.len(), 6, "six distinct videos among the next ten exposures");
        assert_eq!(first.labels, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(first.candidates[0].item.author.as_deref(), Some("100"));
        assert_eq!(first.candidates[0].item.topics, ["0", "7"]);
        assert_eq!(first.candidates[0].duration_ms, Some(10_000.0));
        assert_eq!(first.candidates[0].created_at, date_ms("2022-04-10"));
        // Nobody had exposures a day before: every rate is the prior's.
        assert!(first.candidates.iter().all(|c| c.popularity == Some(0.0) && c.server_score == Some(0.5)));
        assert_eq!(log.requests[2].split, Some(Split::Train));
        assert_eq!(log.requests[2].candidates.len(), 3);
        assert!(log.description.iter().any(|line| line.contains("6 h")));
    }
}
