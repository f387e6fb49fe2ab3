//! The load generator: a steady stream of realistic chat traffic at a configured rate — new
//! messages across channels and authors (some with mentions, some in Korean), edits and
//! deletes of recent messages — so a person can watch lag rise and fall.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::LoadgenConfig;
use crate::event::{new_event_id, MessageCreated, MessageDeleted, MessageEvent, MessageUpdated};

const PHRASES: &[&str] = &[
    "deploy finished on staging",
    "프로젝트 배포 완료",
    "can someone review the search PR",
    "lunch at noon?",
    "회의록 공유드립니다",
    "the indexer lag alert fired again",
    "rolling back the notifier",
    "new dashboard for consumer lag is up",
    "오늘 릴리스 일정 확인 부탁드립니다",
    "kafka rebalance storm in prod, investigating",
];

pub struct LoadGenerator {
    config: LoadgenConfig,
    rng: u64,
    /// Events owed since the clock was last reset (fractional).
    owed: f64,
    last: Instant,
    recent: VecDeque<(String, String, String)>,
    sequence: u64,
}

impl LoadGenerator {
    pub fn new(config: LoadgenConfig) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self::with_seed(config, seed)
    }

    pub fn with_seed(config: LoadgenConfig, seed: u64) -> Self {
        Self {
            config,
            rng: seed | 1,
            owed: 0.0,
            last: Instant::now(),
            recent: VecDeque::new(),
            sequence: 0,
        }
    }

    pub fn rate(&self) -> u32 {
        self.config.rate
    }

    pub fn set_rate(&mut self, rate: u32) {
        self.config.rate = rate;
    }

    pub fn reset_clock(&mut self) {
        self.last = Instant::now();
        self.owed = 0.0;
    }

    /// The events due at `now` given the rate (at most one second's worth at a time).
    pub fn due(&mut self, now: Instant) -> Vec<MessageEvent> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.owed = (self.owed + elapsed * self.config.rate as f64).min(self.config.rate as f64);
        let n = self.owed.floor() as usize;
        self.owed -= n as f64;
        (0..n).map(|_| self.next_event()).collect()
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*: plenty for synthetic traffic, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    fn pick(&mut self, n: u32) -> u32 {
        (self.next_u64() % n.max(1) as u64) as u32
    }

    pub fn next_event(&mut self) -> MessageEvent {
        let roll_edit = self.chance(self.config.edit_ratio);
        let roll_delete = !roll_edit && self.chance(self.config.delete_ratio);
        if (roll_edit || roll_delete) && !self.recent.is_empty() {
            let i = self.pick(self.recent.len() as u32) as usize;
            if roll_delete {
                if let Some((message_id, channel_id, author)) = self.recent.remove(i) {
                    return MessageEvent::Deleted(MessageDeleted {
                        message_id,
                        channel_id,
                        deleted_by: author,
                    });
                }
            } else if let Some((message_id, channel_id, author)) = self.recent.get(i).cloned() {
                let (content, mentions) = self.text(&author);
                return MessageEvent::Updated(MessageUpdated {
                    message_id,
                    channel_id,
                    content: format!("{content} (edited)"),
                    mentions,
                    edited_at: Some(crate::event::now_ms()),
                    editor_id: Some(author),
                });
            }
        }
        self.sequence += 1;
        let channel_id = format!("ch_{:02}", self.pick(self.config.channels));
        let author = format!("user_{:03}", self.pick(self.config.authors));
        let (content, mentions) = self.text(&author);
        let message_id = format!("msg_{}", new_event_id());
        self.recent
            .push_back((message_id.clone(), channel_id.clone(), author.clone()));
        if self.recent.len() > 500 {
            self.recent.pop_front();
        }
        MessageEvent::Created(MessageCreated {
            message_id,
            channel_id,
            author_id: author,
            content,
            mentions,
            attachments: vec![],
        })
    }

    fn text(&mut self, author: &str) -> (String, Vec<String>) {
        let phrase = PHRASES[self.pick(PHRASES.len() as u32) as usize];
        if self.chance(self.config.mention_ratio) {
            let mut user = format!("user_{:03}", self.pick(self.config.authors));
            if user == author {
                user = format!(
                    "user_{:03}",
                    (self.pick(self.config.authors) + 1) % self.config.authors
                );
            }
            (format!("{phrase} @{user}"), vec![user])
        } else {
            (phrase.to_string(), vec![])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn emits_the_configured_rate_over_time() {
        let config = LoadgenConfig {
            rate: 100,
            ..LoadgenConfig::default()
        };
        let mut g = LoadGenerator::with_seed(config, 7);
        let t0 = Instant::now();
        g.last = t0;
        let mut n = 0;
        for i in 1..=50 {
            n += g.due(t0 + Duration::from_millis(20 * i)).len();
        }
        assert_eq!(n, 100, "one second at 100/s");
    }

    #[test]
    fn traffic_mixes_creates_edits_deletes_and_mentions() {
        let config = LoadgenConfig {
            edit_ratio: 0.2,
            delete_ratio: 0.1,
            mention_ratio: 0.5,
            ..LoadgenConfig::default()
        };
        let mut g = LoadGenerator::with_seed(config, 42);
        let events: Vec<_> = (0..2000).map(|_| g.next_event()).collect();
        let created = events
            .iter()
            .filter(|e| matches!(e, MessageEvent::Created(_)))
            .count();
        let updated = events
            .iter()
            .filter(|e| matches!(e, MessageEvent::Updated(_)))
            .count();
        let deleted = events
            .iter()
            .filter(|e| matches!(e, MessageEvent::Deleted(_)))
            .count();
        assert!(
            created > 1000 && updated > 200 && deleted > 50,
            "{created} {updated} {deleted}"
        );
        let self_mentions = events.iter().any(|e| match e {
            MessageEvent::Created(c) => c.mentions.contains(&c.author_id),
            _ => false,
        });
        assert!(!self_mentions);
    }
}
