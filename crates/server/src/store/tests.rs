use model::{LifecycleState, Stack, Timestamp};
use scaling::GroupState;

use super::*;
use crate::test_util::{group, instance};

#[test]
fn stack_groups_and_instances_round_trip() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.load_stack().unwrap().is_none());
    let stack = Stack {
        region: "eu-west-1".into(),
        ..Stack::default()
    };
    store
        .save_stack("main.tf", &stack, Timestamp::EPOCH)
        .unwrap();
    let (config, loaded) = store.load_stack().unwrap().unwrap();
    assert_eq!((config.as_str(), loaded), ("main.tf", stack));

    let g = group("web");
    let mut state = GroupState::new(&g);
    state.desired_capacity = 3;
    store.save_group(&g, &state).unwrap();
    assert_eq!(store.load_groups().unwrap(), vec![(g, state)]);

    let mut a = instance(1, "web", LifecycleState::InService);
    let b = instance(2, "web", LifecycleState::Pending);
    store.save_instance(&a).unwrap();
    store.save_instance(&b).unwrap();
    assert_eq!(store.live_instances().unwrap(), vec![a.clone(), b.clone()]);
    a.lifecycle = LifecycleState::Terminated;
    store.save_instance(&a).unwrap();
    assert_eq!(store.live_instances().unwrap(), vec![b]);
    assert_eq!(
        store.prune_terminated(Timestamp::from_secs(5_000)).unwrap(),
        1
    );

    store.clear_stack().unwrap();
    assert!(store.load_stack().unwrap().is_none());
    assert!(store.load_groups().unwrap().is_empty());
}

#[test]
fn activities_are_recorded_and_finished() {
    let store = Store::open_in_memory().unwrap();
    let i = instance(7, "web", LifecycleState::Pending);
    let id = store
        .start_activity(
            "web",
            Some(&i.id),
            "Launching a new EC2 instance",
            "because",
            Timestamp::from_secs(1),
        )
        .unwrap();
    assert_eq!(store.open_activity(&i.id).unwrap(), Some(id));
    store
        .finish_activity(
            id,
            ActivityStatus::Failed,
            Some("exited 1"),
            Timestamp::from_secs(2),
        )
        .unwrap();
    assert_eq!(store.open_activity(&i.id).unwrap(), None);
    let all = store.activities("web", 10).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, ActivityStatus::Failed);
    assert_eq!(all[0].status_message.as_deref(), Some("exited 1"));
    assert_eq!(all[0].end_time, Some(Timestamp::from_secs(2)));
    assert!(store.activities("other", 10).unwrap().is_empty());
}

#[test]
fn a_store_from_a_future_schema_is_refused() {
    let dir = std::env::temp_dir().join(format!("updraft-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.db");
    let _ = std::fs::remove_file(&path);
    {
        let store = Store::open(&path).unwrap();
        store
            .conn()
            .execute(
                "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
    }
    let err = Store::open(&path).err().unwrap();
    assert!(err.to_string().contains("schema 99"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
