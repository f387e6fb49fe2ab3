//! Counters over a sliding window of one-minute buckets: messages posted, edited and deleted,
//! searches, and per channel, author, mentioned user and search term. Pure: the analytics
//! worker feeds it events with their own timestamps, and the window slides with the newest
//! event seen (or the clock, when asked for a summary), so a replay of old events counts
//! them where they happened, not now.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
/// The window the counters cover.
pub const WINDOW_MINUTES: i64 = 60;

/// What happened, as analytics counts it.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    Posted {
        channel: String,
        author: String,
        mentions: Vec<String>,
    },
    Edited {
        channel: String,
        user: Option<String>,
    },
    Deleted {
        channel: String,
        user: Option<String>,
    },
    Searched {
        user: Option<String>,
        terms: Vec<String>,
    },
}

#[derive(Debug, Default, Clone)]
struct Minute {
    /// Minutes since the epoch.
    at: i64,
    posted: u64,
    edited: u64,
    deleted: u64,
    searched: u64,
    channels: HashMap<String, u64>,
    authors: HashMap<String, u64>,
    mentioned: HashMap<String, u64>,
    terms: HashMap<String, u64>,
}

#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Oldest first; at most WINDOW_MINUTES of them.
    minutes: VecDeque<Minute>,
    /// Events older than the window when they arrived (counted nowhere else).
    pub too_old: u64,
}

/// A name and its count, highest first.
pub type Ranked = Vec<(String, u64)>;

/// What the Analytics view and `status --json` show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsSummary {
    pub window_minutes: i64,
    /// Messages posted in the last minute, and per minute over the last 5 and 60.
    pub posted_last_minute: u64,
    pub posted_per_minute_5m: f64,
    pub posted_per_minute_60m: f64,
    /// Over the whole window.
    pub posted: u64,
    pub edited: u64,
    pub deleted: u64,
    pub searched: u64,
    pub top_channels: Ranked,
    pub top_authors: Ranked,
    pub top_mentioned: Ranked,
    pub top_terms: Ranked,
    /// Posts per minute, oldest first, one per minute of the window (for a sparkline).
    pub posted_history: Vec<u64>,
}

fn bump(map: &mut HashMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_insert(0) += 1;
}

impl Counters {
    /// Counts `activity` at `at_ms` (the event's own time).
    pub fn record(&mut self, at_ms: i64, activity: &Activity) {
        let at = at_ms.div_euclid(MINUTE_MS);
        self.slide(at);
        let Some(minute) = self.minute(at) else {
            self.too_old += 1;
            return;
        };
        match activity {
            Activity::Posted {
                channel,
                author,
                mentions,
            } => {
                minute.posted += 1;
                bump(&mut minute.channels, channel);
                bump(&mut minute.authors, author);
                for m in mentions {
                    bump(&mut minute.mentioned, m);
                }
            }
            Activity::Edited { .. } => minute.edited += 1,
            Activity::Deleted { .. } => minute.deleted += 1,
            Activity::Searched { terms, .. } => {
                minute.searched += 1;
                for t in terms {
                    bump(&mut minute.terms, t);
                }
            }
        }
    }

    /// Drops the minutes that fell out of a window ending at minute `now`.
    fn slide(&mut self, now: i64) {
        while self
            .minutes
            .front()
            .is_some_and(|m| m.at <= now - WINDOW_MINUTES)
        {
            self.minutes.pop_front();
        }
    }

    /// The bucket of minute `at`, created in order; `None` when `at` is before the window
    /// the newest bucket defines.
    fn minute(&mut self, at: i64) -> Option<&mut Minute> {
        let newest = self.minutes.back().map(|m| m.at).unwrap_or(at);
        if at <= newest - WINDOW_MINUTES {
            return None;
        }
        let pos = match self.minutes.iter().position(|m| m.at >= at) {
            Some(p) if self.minutes[p].at == at => p,
            Some(p) => {
                self.minutes.insert(
                    p,
                    Minute {
                        at,
                        ..Minute::default()
                    },
                );
                p
            }
            None => {
                self.minutes.push_back(Minute {
                    at,
                    ..Minute::default()
                });
                self.minutes.len() - 1
            }
        };
        self.minutes.get_mut(pos)
    }

    /// The figures of the window ending now, the `top` names of each ranking.
    pub fn summary(&self, now_ms: i64, top: usize) -> AnalyticsSummary {
        let now = now_ms.div_euclid(MINUTE_MS);
        let within = |m: &&Minute, minutes: i64| m.at > now - minutes && m.at <= now;
        let live: Vec<&Minute> = self
            .minutes
            .iter()
            .filter(|m| within(m, WINDOW_MINUTES))
            .collect();
        let posted_in = |minutes: i64| -> u64 {
            live.iter()
                .filter(|m| within(m, minutes))
                .map(|m| m.posted)
                .sum()
        };
        let rank = |pick: fn(&Minute) -> &HashMap<String, u64>| -> Ranked {
            let mut total: HashMap<&str, u64> = HashMap::new();
            for m in &live {
                for (k, n) in pick(m) {
                    *total.entry(k.as_str()).or_insert(0) += n;
                }
            }
            let mut ranked: Ranked = total.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(top);
            ranked
        };
        let posted_history = (now - WINDOW_MINUTES + 1..=now)
            .map(|at| {
                live.iter()
                    .find(|m| m.at == at)
                    .map(|m| m.posted)
                    .unwrap_or(0)
            })
            .collect();
        AnalyticsSummary {
            window_minutes: WINDOW_MINUTES,
            posted_last_minute: posted_in(1),
            posted_per_minute_5m: posted_in(5) as f64 / 5.0,
            posted_per_minute_60m: posted_in(60) as f64 / 60.0,
            posted: live.iter().map(|m| m.posted).sum(),
            edited: live.iter().map(|m| m.edited).sum(),
            deleted: live.iter().map(|m| m.deleted).sum(),
            searched: live.iter().map(|m| m.searched).sum(),
            top_channels: rank(|m| &m.channels),
            top_authors: rank(|m| &m.authors),
            top_mentioned: rank(|m| &m.mentioned),
            top_terms: rank(|m| &m.terms),
            posted_history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_796_083_200_000; // a minute boundary

    fn posted(channel: &str, author: &str, mentions: &[&str]) -> Activity {
        Activity::Posted {
            channel: channel.into(),
            author: author.into(),
            mentions: mentions.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn searched(terms: &[&str]) -> Activity {
        Activity::Searched {
            user: None,
            terms: terms.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_known_stream_gives_known_counters_and_rankings() {
        let mut c = Counters::default();
        // Minute 0: three posts; minute 3: two; minute 4 (now): one, an edit, a delete.
        c.record(T0, &posted("ch_dev", "user_1", &["user_2"]));
        c.record(
            T0 + 1_000,
            &posted("ch_dev", "user_1", &["user_2", "user_3"]),
        );
        c.record(T0 + 2_000, &posted("ch_ops", "user_2", &[]));
        c.record(T0 + 3 * MINUTE_MS, &posted("ch_ops", "user_3", &["user_2"]));
        c.record(T0 + 3 * MINUTE_MS + 5, &posted("ch_dev", "user_1", &[]));
        c.record(T0 + 4 * MINUTE_MS, &posted("ch_qa", "user_4", &[]));
        c.record(
            T0 + 4 * MINUTE_MS,
            &Activity::Edited {
                channel: "ch_dev".into(),
                user: None,
            },
        );
        c.record(
            T0 + 4 * MINUTE_MS,
            &Activity::Deleted {
                channel: "ch_dev".into(),
                user: None,
            },
        );
        c.record(T0 + 4 * MINUTE_MS, &searched(&["배포", "deploy"]));
        c.record(T0 + 4 * MINUTE_MS, &searched(&["배포"]));
        let s = c.summary(T0 + 4 * MINUTE_MS + 30_000, 2);
        assert_eq!(s.posted, 6);
        assert_eq!((s.edited, s.deleted, s.searched), (1, 1, 2));
        assert_eq!(s.posted_last_minute, 1);
        assert_eq!(s.posted_per_minute_5m, 6.0 / 5.0);
        assert_eq!(
            s.top_channels,
            vec![("ch_dev".to_string(), 3), ("ch_ops".to_string(), 2)]
        );
        assert_eq!(s.top_authors[0], ("user_1".to_string(), 3));
        assert_eq!(s.top_mentioned[0], ("user_2".to_string(), 3));
        assert_eq!(s.top_terms[0], ("배포".to_string(), 2));
        assert_eq!(s.posted_history.len(), WINDOW_MINUTES as usize);
        assert_eq!(&s.posted_history[55..], &[3, 0, 0, 2, 1]);
    }

    #[test]
    fn the_window_slides_with_the_newest_event_and_with_the_clock() {
        let mut c = Counters::default();
        c.record(T0, &posted("ch_a", "u", &[]));
        c.record(T0 + 61 * MINUTE_MS, &posted("ch_b", "u", &[]));
        // The first minute fell out of the window when the second event came.
        let s = c.summary(T0 + 61 * MINUTE_MS, 5);
        assert_eq!(s.posted, 1);
        assert_eq!(s.top_channels, vec![("ch_b".to_string(), 1)]);
        // An event older than the window is not counted.
        c.record(T0 + MINUTE_MS, &posted("ch_c", "u", &[]));
        assert_eq!(c.too_old, 1);
        // An hour of silence later, nothing is left.
        assert_eq!(c.summary(T0 + 200 * MINUTE_MS, 5).posted, 0);
        // An event out of order within the window lands in its own minute.
        let mut c = Counters::default();
        c.record(T0 + 10 * MINUTE_MS, &posted("ch_a", "u", &[]));
        c.record(T0 + 2 * MINUTE_MS, &posted("ch_a", "u", &[]));
        let s = c.summary(T0 + 10 * MINUTE_MS, 5);
        assert_eq!(s.posted, 2);
        assert_eq!(s.posted_history[59], 1);
        assert_eq!(s.posted_history[51], 1);
    }
}
