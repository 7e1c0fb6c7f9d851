//! The SQLite store keeps records whole, replaces a slot's record in one transaction, survives
//! a reopen, and serves a sync node like the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test
#![cfg(feature = "sqlite")]

use std::path::PathBuf;

use drivers::sqlite::SqliteStore;
use sync_core::{Body, Identity, RelationType, Slot, Store, VerifiedRecord};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipv8-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("records.sqlite")
}

fn binding(who: &Identity, ts: u64, port: u16) -> VerifiedRecord {
    who.sign(ts, Body::Binding { address: std::net::SocketAddr::from(([192, 0, 2, 1], port)) }).unwrap()
}

#[test]
fn records_of_every_kind_survive_a_reopen_byte_for_byte() {
    let path = temp("reopen");
    let (alice, bob) = (Identity::from_seed([1; 32]).unwrap(), Identity::from_seed([2; 32]).unwrap());
    let records = vec![
        alice.sign(1, Body::Peer { metadata: b"alice".to_vec() }).unwrap(),
        binding(&alice, 2, 6421),
        bob.sign(3, Body::Binding { address: "[2001:db8::1]:9".parse().unwrap() }).unwrap(),
        bob.countersign(&alice.sign_for_countersigning(4, bob.public(), RelationType::TRAFFIC_EXCHANGE, 100)).unwrap(),
    ];
    {
        let mut store = SqliteStore::open(&path).unwrap();
        for r in &records {
            store.insert(r, None).unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.len(), records.len());
    assert_eq!(store.verify_all().unwrap(), records.len());
    for r in &records {
        assert_eq!(store.get(&r.id()).as_deref(), Some(r.bytes()));
        assert_eq!(store.current(&r.record().slot()), Some((r.record().timestamp_ms, r.id())));
    }
}

#[test]
fn replacing_a_slot_removes_the_old_record_in_the_same_transaction() {
    let path = temp("replace");
    let alice = Identity::from_seed([1; 32]).unwrap();
    let (old, new) = (binding(&alice, 1, 1), binding(&alice, 2, 2));
    let mut store = SqliteStore::open(&path).unwrap();
    store.insert(&old, None).unwrap();
    // Inserting a second record in the slot without naming the one it replaces is refused by
    // the UNIQUE constraint, and leaves the store as it was.
    assert!(store.insert(&new, None).is_err());
    assert!(store.contains(&old.id()) && !store.contains(&new.id()));
    store.insert(&new, Some(old.id())).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.current(&Slot::Binding(alice.public())), Some((2, new.id())));
}

#[test]
fn a_removed_record_is_gone_with_its_slot_and_stays_gone_after_a_reopen() {
    let path = temp("remove");
    let (alice, bob) = (Identity::from_seed([1; 32]).unwrap(), Identity::from_seed([2; 32]).unwrap());
    let relation = alice
        .sign(
            3,
            Body::Relation {
                subject: bob.public(),
                kind: RelationType::SOCIAL_FRIEND,
                strength: 2,
                countersigned: false,
            },
        )
        .unwrap();
    let (kept, dropped) = (binding(&bob, 1, 1), binding(&alice, 2, 2));
    let mut store = SqliteStore::open(&path).unwrap();
    for r in [&kept, &dropped, &relation] {
        store.insert(r, None).unwrap();
    }
    assert!(store.remove(&dropped.id()).unwrap());
    assert!(store.remove(&relation.id()).unwrap());
    assert!(!store.remove(&dropped.id()).unwrap(), "a second removal finds nothing");
    assert_eq!(store.current(&Slot::Binding(alice.public())), None);
    // The freed slot takes a new record without naming one it replaces.
    let again = binding(&alice, 5, 5);
    store.insert(&again, None).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.len(), 2);
    assert!(store.contains(&kept.id()) && store.contains(&again.id()));
    assert!(!store.contains(&relation.id()) && store.get(&relation.id()).is_none());
}

#[test]
fn a_batch_is_all_or_nothing() {
    let path = temp("batch");
    let alice = Identity::from_seed([1; 32]).unwrap();
    let mut store = SqliteStore::open(&path).unwrap();
    let good: Vec<_> = (0..10u8)
        .map(|i| (Identity::from_seed([i + 10; 32]).unwrap().sign(1, Body::Peer { metadata: vec![i] }).unwrap(), None))
        .collect();
    let mut bad = good.clone();
    bad.push((binding(&alice, 1, 1), None));
    bad.push((binding(&alice, 2, 2), None)); // same slot, no replacement named: refused
    assert!(store.insert_batch(&bad).is_err());
    assert_eq!(SqliteStore::open(&path).unwrap().len(), 0);
    store.insert_batch(&good).unwrap();
    assert_eq!(SqliteStore::open(&path).unwrap().len(), 10);
}

#[test]
fn a_record_another_process_commits_is_seen_before_the_next_use() {
    let path = temp("two-writers");
    let mut node_side = SqliteStore::open(&path).unwrap();
    let mut other = SqliteStore::open(&path).unwrap();
    let alice = Identity::from_seed([1; 32]).unwrap();
    let (old, new) = (binding(&alice, 1, 1), binding(&alice, 2, 2));
    node_side.insert(&old, None).unwrap();
    assert!(other.contains(&old.id()), "the other connection reads the file");
    other.insert(&new, Some(old.id())).unwrap();
    assert!(node_side.contains(&new.id()) && !node_side.contains(&old.id()));
    let mut ids = Vec::new();
    node_side.for_each_id(&mut |id| ids.push(*id));
    assert_eq!(ids, vec![new.id()]);
    assert_eq!(node_side.get(&new.id()).as_deref(), Some(new.bytes()));
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    use drivers::sqlite::SqliteError;
    // A database with a table of its own (say, a browser's history).
    let path = temp("foreign");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE urls (url TEXT); INSERT INTO urls VALUES ('https://example.org');").unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(&err, SqliteError::NotAStore(why) if why.contains("urls")), "{err}");
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after, before, "nothing written to it");
    // Header bytes 18 and 19 are the file format's write and read versions: 2 in WAL mode.
    assert_eq!(&after[18..20], &[1, 1], "not switched to WAL");

    // A database with a table of ours by name but not by columns, or with a view of its own.
    for sql in ["CREATE TABLE peers (name TEXT, age INTEGER)", "CREATE VIEW everything AS SELECT 1"] {
        let path = temp(if sql.contains("VIEW") { "foreign-view" } else { "foreign-peers" });
        rusqlite::Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(&err, SqliteError::NotAStore(_)), "{sql}: {err}");
    }

    // A database another application marked as its own, even with no tables.
    let path = temp("marked");
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "application_id", 0x1234_5678).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(&err, SqliteError::NotAStore(why) if why.contains("0x12345678")), "{err}");
}

#[test]
fn a_store_is_marked_as_ours_and_an_unmarked_older_store_is_adopted() {
    use drivers::sqlite::APPLICATION_ID;
    let id = |path: &std::path::Path| -> i32 {
        rusqlite::Connection::open(path).unwrap().query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap()
    };
    let path = temp("marked-new");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(id(&path), APPLICATION_ID);

    // A store written before stores were marked: only our tables, application id 0.
    let path = temp("unmarked-old");
    let alice = Identity::from_seed([1; 32]).unwrap();
    {
        let mut store = SqliteStore::open(&path).unwrap();
        store.insert(&binding(&alice, 1, 6421), None).unwrap();
    }
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "application_id", 0).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!((store.len(), id(&path)), (1, APPLICATION_ID), "its record kept, now marked");
}
