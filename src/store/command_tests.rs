use super::*;
use crate::event::parse_message_event;

fn post(content: &str) -> Change {
    Change::Post(PostMessage {
        channel_id: "ch_dev".into(),
        author_id: "user_001".into(),
        content: content.into(),
        attachments: vec![],
    })
}

fn posted(content: &str) -> Message {
    decide("msg_1", &post(content), None, 1_000)
        .expect("posted")
        .message
}

#[test]
fn a_post_makes_version_1_with_mentions_from_the_text_and_a_created_event() {
    let d = decide("msg_1", &post("배포 완료 @user_002 @user_003"), None, 1_000).expect("ok");
    assert_eq!(d.message.version, 1);
    assert_eq!(d.message.mentions, ["user_002", "user_003"]);
    assert_eq!(d.message.created_at, 1_000);
    assert_eq!(d.event.timestamp, 1_000);
    let bytes = d.event.to_json().expect("json");
    assert_eq!(parse_message_event(&bytes), Ok(d.event.clone()));
    let entry = d.outbox_entry(&TopicsConfig::default()).expect("entry");
    assert_eq!(entry.topic, "platform.messages.created");
    assert_eq!(entry.key, "ch_dev");
    assert_eq!(entry.event_id, d.event.event_id);
    assert_eq!(entry.payload, bytes);
}

#[test]
fn bad_posts_name_the_field() {
    let cases: Vec<(Change, &str)> = vec![
        (post(""), "content"),
        (post("   \n"), "content"),
        (post(&"가".repeat(MAX_CONTENT_CHARS + 1)), "content"),
        (post("nul\0byte"), "content"),
        (
            Change::Post(PostMessage {
                channel_id: "general".into(),
                author_id: "user_001".into(),
                content: "hi".into(),
                attachments: vec![],
            }),
            "channel_id",
        ),
        (
            Change::Post(PostMessage {
                channel_id: "ch_dev".into(),
                author_id: "user_ BAD".into(),
                content: "hi".into(),
                attachments: vec![],
            }),
            "author_id",
        ),
        (
            Change::Post(PostMessage {
                channel_id: "ch_dev".into(),
                author_id: "user_001".into(),
                content: "hi".into(),
                attachments: vec![Value::Null; MAX_ATTACHMENTS + 1],
            }),
            "attachments",
        ),
    ];
    for (change, field) in cases {
        match decide("msg_1", &change, None, 0) {
            Err(CommandError::Invalid { field: f, .. }) => assert_eq!(f, field, "{change:?}"),
            other => panic!("{change:?}: {other:?}"),
        }
    }
    // The limit counts characters: 4,000 Korean characters (12,000 bytes) pass.
    assert!(decide("m", &post(&"가".repeat(MAX_CONTENT_CHARS)), None, 0).is_ok());
}

#[test]
fn an_edit_bumps_the_version_and_reparses_mentions() {
    let current = posted("hello @user_002");
    let edit = Change::Edit(EditMessage {
        content: "hello @user_009".into(),
        editor_id: None,
    });
    let d = decide("msg_1", &edit, Some(&current), 2_000).expect("ok");
    assert_eq!(d.message.version, 2);
    assert_eq!(d.message.mentions, ["user_009"]);
    assert_eq!(d.message.updated_at, Some(2_000));
    assert_eq!(d.message.created_at, 1_000);
    match &d.event.event {
        MessageEvent::Updated(u) => {
            assert_eq!(
                u.editor_id.as_deref(),
                Some("user_001"),
                "the author by default"
            );
            assert_eq!(u.edited_at, Some(2_000));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_is_404_and_deleted_is_409_for_edit_and_delete() {
    let edit = Change::Edit(EditMessage {
        content: "x".into(),
        editor_id: None,
    });
    let delete = Change::Delete(DeleteMessage { deleted_by: None });
    for change in [&edit, &delete] {
        let e = decide("msg_x", change, None, 0).unwrap_err();
        assert_eq!(
            (e.status(), e.to_string()),
            (404, "no message msg_x".into())
        );
    }
    let current = posted("hi");
    let gone = decide("msg_1", &delete, Some(&current), 3_000).expect("deleted");
    assert_eq!(gone.message.deleted_at, Some(3_000));
    assert_eq!(gone.message.version, 2);
    for change in [&edit, &delete] {
        let e = decide("msg_1", change, Some(&gone.message), 4_000).unwrap_err();
        assert_eq!(e.status(), 409, "{e}");
    }
}

#[test]
fn idempotency_keys_are_visible_ascii() {
    assert!(check_idempotency_key("3f2a-retry-1").is_ok());
    assert!(check_idempotency_key("").is_err());
    assert!(check_idempotency_key("has space").is_err());
    assert!(check_idempotency_key(&"k".repeat(MAX_IDEMPOTENCY_KEY + 1)).is_err());
}

#[test]
fn every_change_mints_its_own_event() {
    let a = decide("msg_1", &post("a"), None, 5).expect("a");
    let b = decide("msg_1", &post("a"), None, 5).expect("b");
    assert_ne!(a.event.event_id, b.event.event_id);
}
