//! Consumer groups of the embedded broker across restarts.
//!
//! tansu 0.6.0 keeps each group's state (members with their last contact, generation,
//! leader, assignments) in its SQLite file and reloads it as is after a restart. Members of
//! the process that died are then taken for alive until their session times out, and one of
//! them may be the group's leader: the only member allowed to hand out partitions. A member
//! that joins meanwhile waits for that dead leader; and when the dead member finally expires
//! through a heartbeat, tansu removes it but leaves the group "formed" with the dead leader's
//! assignments, so every rejoin is answered from them — an empty assignment, for good.
//!
//! Nothing from before the broker's start can be alive (the data directory is locked by one
//! process, and the broker lives in it), so at start every group is emptied of members and
//! forgets its leader and assignments, as a real Kafka coordinator's group becomes Empty
//! when its members are gone. Committed offsets are stored apart and kept.

use tansu_storage::{GroupDetail, GroupState, Storage, StorageContainer, UpdateError};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum GroupResetError {
    #[error("opening the broker's storage: {0}")]
    Open(#[source] tansu_storage::Error),
    #[error("listing consumer groups: {0}")]
    List(#[source] tansu_storage::Error),
    #[error("updating consumer group {group}: {detail}")]
    Update { group: String, detail: String },
}

/// A group as it must be when no member can be alive: no members, no leader, no
/// assignments, no protocol (the first member to join chooses it). The generation is kept so
/// that it only ever grows.
pub fn emptied(detail: &GroupDetail) -> GroupDetail {
    GroupDetail {
        members: Default::default(),
        state: GroupState::Forming {
            protocol_type: None,
            protocol_name: None,
            leader: None,
        },
        ..detail.clone()
    }
}

/// Whether `detail` holds anything of a live group that [`emptied`] would drop.
pub fn has_membership(detail: &GroupDetail) -> bool {
    !detail.members.is_empty()
        || match &detail.state {
            GroupState::Forming { leader, .. } => leader.is_some(),
            GroupState::Formed { .. } => true,
        }
}

/// Empties every stored group of its members before the broker serves. Returns the storage
/// handle it used and how many groups held members from before.
///
/// Keep the handle open as long as the broker runs: closing the last connection to an SQLite
/// file in WAL mode checkpoints it under an exclusive lock, and tansu's writes meanwhile fail
/// at once with "database is locked" (it sets no busy timeout).
pub async fn empty_stale_groups(
    storage: &Url,
    listener: &Url,
    node_id: i32,
    cluster_id: &str,
) -> Result<(StorageContainer, usize), GroupResetError> {
    let store = StorageContainer::builder()
        .node_id(node_id)
        .cluster_id(cluster_id)
        .advertised_listener(listener.clone())
        .storage(storage.clone())
        .silent(true)
        .build()
        .await
        .map_err(GroupResetError::Open)?;
    let groups = store
        .list_groups(None)
        .await
        .map_err(GroupResetError::List)?;
    let mut emptied_count = 0;
    for listed in groups {
        let group = listed.group_id;
        // A conditional write without a version fails with the stored state and its
        // version; the second write, with that version, replaces it. A group known only by
        // its committed offsets has no stored state: the first write then stores an empty
        // one, as tansu's coordinator would create on the first join.
        let (current, version) = match store
            .update_group(&group, emptied(&GroupDetail::default()), None)
            .await
        {
            Err(UpdateError::Outdated { current, version }) => (*current, version),
            Ok(_) => continue,
            Err(e) => {
                return Err(GroupResetError::Update {
                    group,
                    detail: format!("{e:?}"),
                })
            }
        };
        if !has_membership(&current) {
            continue;
        }
        store
            .update_group(&group, emptied(&current), Some(version))
            .await
            .map_err(|e| GroupResetError::Update {
                group: group.clone(),
                detail: format!("{e:?}"),
            })?;
        tracing::info!(
            %group,
            stale_members = current.members.len(),
            generation = current.generation_id,
            "consumer group emptied at broker start"
        );
        emptied_count += 1;
    }
    Ok((store, emptied_count))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::*;

    fn formed() -> GroupDetail {
        let mut members = BTreeMap::new();
        members.insert(
            "eventdeck-indexer-dead".to_string(),
            tansu_storage::GroupMember {
                join_response: Default::default(),
                last_contact: Some(SystemTime::now()),
            },
        );
        GroupDetail {
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: Some(300_000),
            members,
            generation_id: 7,
            skip_assignment: Some(false),
            inception: SystemTime::UNIX_EPOCH,
            state: GroupState::Formed {
                protocol_type: "consumer".into(),
                protocol_name: "range".into(),
                leader: "eventdeck-indexer-dead".into(),
                assignments: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn an_emptied_group_has_no_member_leader_or_assignment_and_keeps_its_generation() {
        let before = formed();
        assert!(has_membership(&before));
        let after = emptied(&before);
        assert!(after.members.is_empty());
        assert_eq!(
            after.state,
            GroupState::Forming {
                protocol_type: None,
                protocol_name: None,
                leader: None
            }
        );
        assert_eq!(after.generation_id, 7);
        assert_eq!(after.session_timeout_ms, 10_000);
        assert!(!has_membership(&after));
    }

    #[test]
    fn a_forming_group_with_only_a_leader_left_counts_as_held() {
        let mut g = emptied(&formed());
        g.state = GroupState::Forming {
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: Some("gone".into()),
        };
        assert!(has_membership(&g));
    }
}
