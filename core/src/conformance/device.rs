//! Device authorization (RFC 8628) contract cases: the pending record,
//! polling with `slow_down`, denial, and the approval that the shared
//! `approve`/`redeem_code` pair stores and redeems under the device code's
//! hash.

use std::sync::Arc;

use super::{
    approval, hash, issuance_for, sample_challenge, sample_client, sample_code, sample_grant,
    scopes, T0,
};
use crate::clock::Timestamp;
use crate::model::{DeviceRecord, DeviceStatus, PendingDevice};
use crate::storage::rules::SLOW_DOWN_STEP;
use crate::storage::{ApproveOutcome, DevicePoll, RedeemOutcome, Storage, StorageError};

fn sample_device(client_id: &str, expires_at: Timestamp) -> DeviceRecord {
    DeviceRecord {
        hash: hash(),
        user_code: hash(),
        client_id: client_id.to_owned(),
        scopes: scopes("profile:read dns:read"),
        resources: vec!["https://api.example/".to_owned()],
        created_at: T0,
        expires_at,
        interval: 5,
        last_poll: None,
        status: DeviceStatus::Pending,
    }
}

async fn stored<S: Storage + ?Sized>(store: &S, d: &DeviceRecord) -> Option<DeviceRecord> {
    store
        .find_device_by_user_code(&d.user_code)
        .await
        .expect("find")
}

/// A device authorization is found by its user code and reads back
/// unchanged; a second one with either code's hash taken is refused and
/// writes nothing.
pub async fn device_insert_is_unique_by_both_codes<S: Storage + ?Sized>(store: Arc<S>) {
    let d = sample_device("c", T0.plus(600));
    store.insert_device(&d).await.expect("insert");
    assert_eq!(stored(&*store, &d).await, Some(d.clone()));
    assert_eq!(stored(&*store, &sample_device("c", T0)).await, None);

    let mut same_user_code = sample_device("c", T0.plus(600));
    same_user_code.user_code = d.user_code;
    assert!(matches!(
        store.insert_device(&same_user_code).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(
        store
            .poll_device(&same_user_code.hash, "c", T0)
            .await
            .expect("poll"),
        DevicePoll::NotFound,
        "a refused insert stores nothing"
    );

    let mut same_device_code = sample_device("c", T0.plus(600));
    same_device_code.hash = d.hash;
    assert!(matches!(
        store.insert_device(&same_device_code).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(stored(&*store, &same_device_code).await, None);
    assert_eq!(stored(&*store, &d).await, Some(d));
}

/// Polls record their time; one sooner than the interval raises it by
/// [`SLOW_DOWN_STEP`] for good; another client's poll or an expired
/// code's changes nothing.
pub async fn device_poll_records_and_slows_down<S: Storage + ?Sized>(store: Arc<S>) {
    let d = sample_device("c", T0.plus(600));
    store.insert_device(&d).await.expect("insert");
    let at = |s: u64| T0.plus(s);

    let mut want = d.clone();
    want.last_poll = Some(at(1));
    assert_eq!(
        store.poll_device(&d.hash, "c", at(1)).await.expect("first"),
        DevicePoll::Polled(want.clone())
    );
    want.last_poll = Some(at(3));
    want.interval = 5 + SLOW_DOWN_STEP;
    assert_eq!(
        store.poll_device(&d.hash, "c", at(3)).await.expect("soon"),
        DevicePoll::SlowDown(want.clone())
    );
    // The raised interval counts from the last poll: 3 + 10 = 13.
    want.last_poll = Some(at(12));
    want.interval += SLOW_DOWN_STEP;
    assert_eq!(
        store
            .poll_device(&d.hash, "c", at(12))
            .await
            .expect("still soon"),
        DevicePoll::SlowDown(want.clone())
    );
    want.last_poll = Some(at(27));
    assert_eq!(
        store
            .poll_device(&d.hash, "c", at(27))
            .await
            .expect("in time"),
        DevicePoll::Polled(want.clone())
    );

    assert_eq!(
        store
            .poll_device(&d.hash, "other", at(28))
            .await
            .expect("other"),
        DevicePoll::NotFound
    );
    assert_eq!(
        store
            .poll_device(&hash(), "c", at(28))
            .await
            .expect("unknown"),
        DevicePoll::NotFound
    );
    assert_eq!(
        store
            .poll_device(&d.hash, "c", at(600))
            .await
            .expect("late"),
        DevicePoll::Expired
    );
    assert_eq!(stored(&*store, &d).await, Some(want), "unchanged since");
}

/// 16 polls at one instant: exactly one is `Polled`, and each other one
/// raised the interval once (no lost update).
pub async fn device_concurrent_polls_slow_down<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let d = sample_device("c", T0.plus(600));
    store.insert_device(&d).await.expect("insert");
    let now = T0.plus(1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            let h = d.hash;
            tokio::spawn(async move { s.poll_device(&h, "c", now).await })
        })
        .collect();
    let (mut polled, mut slowed) = (0, 0);
    for t in tasks {
        match t.await.expect("join").expect("poll") {
            DevicePoll::Polled(_) => polled += 1,
            DevicePoll::SlowDown(_) => slowed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((polled, slowed), (1, 15));
    let after = stored(&*store, &d).await.expect("stored");
    assert_eq!(after.interval, 5 + 15 * SLOW_DOWN_STEP);
    assert_eq!(after.last_poll, Some(now));
}

/// Denial happens once and is what later reads and polls see.
pub async fn device_deny_is_once<S: Storage + ?Sized>(store: Arc<S>) {
    let d = sample_device("c", T0.plus(600));
    store.insert_device(&d).await.expect("insert");
    assert!(store.deny_device(&d.hash).await.expect("deny"));
    assert!(!store.deny_device(&d.hash).await.expect("again"));
    assert!(!store.deny_device(&hash()).await.expect("unknown"));
    let got = stored(&*store, &d).await.expect("stored");
    assert_eq!(got.status, DeviceStatus::Denied);
    match store.poll_device(&d.hash, "c", T0).await.expect("poll") {
        DevicePoll::Polled(p) => assert_eq!(p.status, DeviceStatus::Denied),
        other => panic!("unexpected {other:?}"),
    }
}

/// The user's approval lands under the device code's hash in one
/// `approve` (challenge taken, grant merged), a second approval of the
/// same device is refused, and 16 concurrent redemptions have one winner.
pub async fn device_approval_is_redeemed_once<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let d = sample_device(&client.id, T0.plus(600));
    store.insert_device(&d).await.expect("insert");
    let mut challenge = sample_challenge(T0.plus(900));
    challenge.request.device = Some(PendingDevice {
        hash: d.hash,
        expires_at: d.expires_at,
    });
    store.insert_challenge(&challenge).await.expect("challenge");

    let g = sample_grant("alice", &client.id);
    let mut code = sample_code(&g, d.expires_at);
    code.hash = d.hash;
    let mut a = approval(&code);
    a.challenge = Some(challenge.hash);
    a.new_grant_id.clone_from(&g.id);
    assert_eq!(
        store.approve(&a).await.expect("approve"),
        ApproveOutcome::Approved {
            grant_id: g.id.clone()
        }
    );
    let approved = store.get_code(&d.hash).await.expect("get").expect("some");
    assert_eq!(
        (approved.subject.as_str(), approved.grant_id.as_str()),
        ("alice", g.id.as_str())
    );
    assert_eq!(
        store.get_challenge(&challenge.hash).await.expect("get"),
        None,
        "taken in the same step"
    );
    let mut twice = approval(&code);
    twice.new_grant_id = super::id("grant");
    assert!(matches!(
        store.approve(&twice).await,
        Err(StorageError::Conflict)
    ));

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            let iss = issuance_for(&approved, T0.plus(86_400));
            let h = d.hash;
            tokio::spawn(async move { s.redeem_code(&h, T0.plus(5), &iss).await })
        })
        .collect();
    let mut issued = 0;
    for t in tasks {
        match t.await.expect("join").expect("redeem") {
            RedeemOutcome::Issued => issued += 1,
            RedeemOutcome::AlreadyRedeemed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(issued, 1);
}

/// A parked device consent step keeps its device binding.
pub async fn device_challenge_round_trips<S: Storage + ?Sized>(store: Arc<S>) {
    let mut c = sample_challenge(T0.plus(900));
    c.request.device = Some(PendingDevice {
        hash: hash(),
        expires_at: T0.plus(600),
    });
    c.request.code_challenge = String::new();
    c.request.state = None;
    store.insert_challenge(&c).await.expect("insert");
    assert_eq!(store.get_challenge(&c.hash).await.expect("get"), Some(c));
}

/// Purge removes device authorizations once expired, in batches, user
/// code and all; live ones stay.
pub async fn device_purge_removes_only_expired<S: Storage + ?Sized>(store: Arc<S>) {
    let old: Vec<_> = (0..3).map(|_| sample_device("c", T0.plus(10))).collect();
    for d in &old {
        store.insert_device(d).await.expect("insert");
    }
    let live = sample_device("c", T0.plus(600));
    store.insert_device(&live).await.expect("insert");
    let now = T0.plus(10);
    assert_eq!(store.purge_expired(now, 2).await.expect("purge").devices, 2);
    assert_eq!(store.purge_expired(now, 2).await.expect("purge").devices, 1);
    assert_eq!(store.purge_expired(now, 2).await.expect("purge").devices, 0);
    for d in &old {
        assert_eq!(stored(&*store, d).await, None);
    }
    assert_eq!(stored(&*store, &live).await, Some(live));
}
