//! The rows each pane shows, after its `/` filter: one function per pane, shared by drawing
//! and by key handling (so `j`/`k`, `enter` and the screen always agree on what row N is).

use crate::monitor::snapshot::{
    GroupStats, GroupTopicLag, MemberInfo, NotificationLine, PartitionLag, PartitionStats,
    TopicStats,
};
use crate::search::SearchHit;

use super::app::App;
use super::views::ViewId;

fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&needle))
}

pub fn topics(app: &App) -> Vec<&TopicStats> {
    let f = app.filter(ViewId::Throughput);
    app.snapshot
        .topics
        .iter()
        .filter(|t| app.show_internal || !t.internal)
        .filter(|t| matches(f, &[&t.topic]))
        .collect()
}

/// Partitions of the drilled-in topic, when there is one.
pub fn topic_partitions(app: &App) -> Option<(&TopicStats, Vec<&PartitionStats>)> {
    let name = app.topic_drill.as_ref()?;
    let t = app.snapshot.topics.iter().find(|t| &t.topic == name)?;
    Some((t, t.partitions.iter().collect()))
}

pub struct LagRow<'a> {
    pub group: &'a GroupStats,
    pub topic: &'a GroupTopicLag,
}

pub fn lag_rows(app: &App) -> Vec<LagRow<'_>> {
    let f = app.filter(ViewId::Lag);
    app.snapshot
        .groups
        .iter()
        .flat_map(|g| g.topics.iter().map(move |t| LagRow { group: g, topic: t }))
        .filter(|r| matches(f, &[&r.group.group, &r.topic.topic, r.topic.status.label()]))
        .collect()
}

/// Partitions of the drilled-in group/topic, when there is one.
pub fn lag_partitions(app: &App) -> Option<(LagRow<'_>, Vec<&PartitionLag>)> {
    let (group, topic) = app.lag_drill.as_ref()?;
    let g = app.snapshot.groups.iter().find(|g| &g.group == group)?;
    let t = g.topics.iter().find(|t| &t.topic == topic)?;
    Some((LagRow { group: g, topic: t }, t.partitions.iter().collect()))
}

/// A row of the assignments table: a group heading (generation, rebalances), then one row
/// per member and topic, the member named on its first row only.
pub enum AssignmentRow<'a> {
    Group(&'a GroupStats),
    Member {
        group: &'a GroupStats,
        member: &'a MemberInfo,
        first_of_member: bool,
        topic: Option<&'a str>,
    },
    NoMembers(&'a GroupStats),
}

impl AssignmentRow<'_> {
    /// The member's partitions of the row's topic, sorted; none for other rows. Worked out
    /// for the rows drawn only, not for every row of every frame.
    pub fn partitions(&self) -> Vec<i32> {
        let AssignmentRow::Member {
            member,
            topic: Some(topic),
            ..
        } = self
        else {
            return Vec::new();
        };
        let mut partitions: Vec<i32> = member
            .assignments
            .iter()
            .filter(|(t, _)| t == *topic)
            .map(|(_, p)| *p)
            .collect();
        partitions.sort_unstable();
        partitions
    }
}

/// The topics a member is assigned, each once, in the order of its assignments.
fn member_topics(m: &MemberInfo) -> Vec<&str> {
    let mut topics: Vec<&str> = Vec::new();
    for (t, _) in &m.assignments {
        if !topics.contains(&t.as_str()) {
            topics.push(t);
        }
    }
    topics
}

/// Whether the filter keeps a member: by group, member id, client id, host or topic.
fn member_matches(filter: &str, g: &GroupStats, m: &MemberInfo, topics: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let mut fields = vec![
        g.group.as_str(),
        m.member.as_str(),
        m.client_id.as_str(),
        m.host.as_str(),
    ];
    fields.extend(topics.iter().copied());
    matches(filter, &fields)
}

pub fn assignment_rows(app: &App) -> Vec<AssignmentRow<'_>> {
    let f = app.filter(ViewId::Assignments);
    let mut rows = Vec::new();
    for g in &app.snapshot.groups {
        let mut body = Vec::new();
        for m in &g.members {
            let topics = member_topics(m);
            if !member_matches(f, g, m, &topics) {
                continue;
            }
            if topics.is_empty() {
                body.push(AssignmentRow::Member {
                    group: g,
                    member: m,
                    first_of_member: true,
                    topic: None,
                });
            }
            for (i, t) in topics.iter().enumerate() {
                body.push(AssignmentRow::Member {
                    group: g,
                    member: m,
                    first_of_member: i == 0,
                    topic: Some(t),
                });
            }
        }
        if g.members.is_empty() && matches(f, &[&g.group]) {
            body.push(AssignmentRow::NoMembers(g));
        }
        if !body.is_empty() {
            rows.push(AssignmentRow::Group(g));
            rows.extend(body);
        }
    }
    rows
}

/// `[0, 1, 2, 5, 7, 8]` → `"0-2,5,7-8"`.
pub fn partition_ranges(parts: &[i32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let start = parts[i];
        let mut end = start;
        while i + 1 < parts.len() && parts[i + 1] == end + 1 {
            i += 1;
            end = parts[i];
        }
        out.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
        i += 1;
    }
    out.join(",")
}

pub fn notifications(app: &App) -> Vec<&NotificationLine> {
    let f = app.filter(ViewId::Notifications);
    app.snapshot
        .notifications
        .iter()
        .filter(|n| {
            let s = &n.notification;
            matches(f, &[&s.user_id, &s.channel_id, &s.author_id, &s.preview])
        })
        .collect()
}

pub fn search_hits(app: &App) -> &[SearchHit] {
    app.search_results()
        .map(|r| r.hits.as_slice())
        .unwrap_or(&[])
}
