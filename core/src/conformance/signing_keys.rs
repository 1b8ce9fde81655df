//! Signing-key contract cases ([`crate::storage::SigningKeyStore`]): one
//! active and one pending key at most, promotion as compare-and-swap, and
//! retirement that erases the private half.

use std::sync::Arc;

use super::{hash, T0};
use crate::clock::Timestamp;
use crate::jwt::{SigningAlgorithm, SigningKeyRecord, SigningKeyState};
use crate::storage::{Storage, StorageError};

fn sample_key(state: SigningKeyState, created: u64) -> SigningKeyRecord {
    let kid = hash().to_hex()[..22].to_owned();
    SigningKeyRecord {
        kid,
        algorithm: SigningAlgorithm::EdDsa,
        public_key: vec![7; 32],
        sealed_private: vec![9; 60],
        sealed_with: 3,
        created_at: T0.plus(created),
        activates_at: T0.plus(created + 600),
        state,
        state_since: T0.plus(created),
    }
}

async fn keys<S: Storage + ?Sized>(store: &S) -> Vec<SigningKeyRecord> {
    store.list_signing_keys().await.expect("list")
}

/// Keys read back unchanged, oldest first; a taken `kid`, or a second
/// active or pending key, is refused and writes nothing.
pub async fn signing_keys_insert_list_and_slots<S: Storage + ?Sized>(store: Arc<S>) {
    assert!(keys(&*store).await.is_empty());
    let active = sample_key(SigningKeyState::Active, 0);
    store.insert_signing_key(&active).await.expect("insert");
    let mut again = sample_key(SigningKeyState::Retiring, 5);
    again.kid.clone_from(&active.kid);
    assert!(matches!(
        store.insert_signing_key(&again).await,
        Err(StorageError::Conflict)
    ));
    assert!(matches!(
        store
            .insert_signing_key(&sample_key(SigningKeyState::Active, 5))
            .await,
        Err(StorageError::Conflict)
    ));
    let pending = sample_key(SigningKeyState::Pending, 10);
    store.insert_signing_key(&pending).await.expect("pending");
    assert!(matches!(
        store
            .insert_signing_key(&sample_key(SigningKeyState::Pending, 20))
            .await,
        Err(StorageError::Conflict)
    ));
    // Retiring and retired keys hold no slot.
    let old = sample_key(SigningKeyState::Retiring, 30);
    let older = sample_key(SigningKeyState::Retired, 40);
    store.insert_signing_key(&old).await.expect("retiring");
    store.insert_signing_key(&older).await.expect("retired");
    assert_eq!(keys(&*store).await, vec![active, pending, old, older]);
}

/// Promotion moves the pending key to active and the active one to
/// retiring in one step, only from the expected state.
pub async fn signing_key_promotion_is_compare_and_swap<S: Storage + ?Sized>(store: Arc<S>) {
    let pending = sample_key(SigningKeyState::Pending, 0);
    store.insert_signing_key(&pending).await.expect("insert");
    // No key active: promoting needs `previous: None`.
    assert!(!store
        .promote_signing_key(&pending.kid, Some("nope"), T0)
        .await
        .expect("promote"));
    assert!(store
        .promote_signing_key(&pending.kid, None, T0.plus(1))
        .await
        .expect("promote"));
    let first = keys(&*store).await.remove(0);
    assert_eq!(first.state, SigningKeyState::Active);
    assert_eq!(first.state_since, T0.plus(1));

    let next = sample_key(SigningKeyState::Pending, 10);
    store.insert_signing_key(&next).await.expect("insert");
    for wrong in [None, Some(next.kid.as_str())] {
        assert!(!store
            .promote_signing_key(&next.kid, wrong, T0.plus(2))
            .await
            .expect("promote"));
    }
    assert!(!store
        .promote_signing_key(&first.kid, Some(&first.kid), T0.plus(2))
        .await
        .expect("an active key is not pending"));
    assert_eq!(keys(&*store).await, vec![first.clone(), next.clone()]);

    let at = T0.plus(700);
    assert!(store
        .promote_signing_key(&next.kid, Some(&first.kid), at)
        .await
        .expect("promote"));
    let after = keys(&*store).await;
    assert_eq!(
        after
            .iter()
            .map(|k| (k.state, k.state_since))
            .collect::<Vec<_>>(),
        [
            (SigningKeyState::Retiring, at),
            (SigningKeyState::Active, at)
        ]
    );
    assert_eq!(after[1].sealed_private, next.sealed_private);
    assert!(!store
        .promote_signing_key(&next.kid, Some(&first.kid), at)
        .await
        .expect("promote twice"));
}

/// Of concurrent promotions of one pending key, exactly one succeeds.
pub async fn signing_key_promotion_races_have_one_winner<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    let active = sample_key(SigningKeyState::Active, 0);
    let pending = sample_key(SigningKeyState::Pending, 10);
    store.insert_signing_key(&active).await.expect("insert");
    store.insert_signing_key(&pending).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, next, prev) = (store.clone(), pending.kid.clone(), active.kid.clone());
            tokio::spawn(async move {
                store
                    .promote_signing_key(&next, Some(&prev), T0.plus(600 + i))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(true) => wins += 1,
            Ok(false) | Err(StorageError::Conflict) => {}
            Err(e) => panic!("promotion failed: {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    let states: Vec<_> = keys(&*store).await.iter().map(|k| k.state).collect();
    assert_eq!(states, [SigningKeyState::Retiring, SigningKeyState::Active]);
}

/// Of concurrent inserts of a first active key, exactly one lands.
pub async fn signing_key_insert_races_have_one_winner<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = sample_key(SigningKeyState::Active, i);
                store.insert_signing_key(&key).await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(()) => wins += 1,
            Err(StorageError::Conflict) => {}
            Err(e) => panic!("insert failed: {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(keys(&*store).await.len(), 1);
}

/// Only a retiring key retires, once; its private half is erased and
/// nothing else of it changes.
pub async fn signing_key_retire_erases_private_half<S: Storage + ?Sized>(store: Arc<S>) {
    let active = sample_key(SigningKeyState::Active, 0);
    let old = sample_key(SigningKeyState::Retiring, 5);
    store.insert_signing_key(&active).await.expect("insert");
    store.insert_signing_key(&old).await.expect("insert");
    let at = Timestamp(T0.0 + 2000);
    assert!(!store
        .retire_signing_key(&active.kid, at)
        .await
        .expect("retire"));
    assert!(!store
        .retire_signing_key("unknown", at)
        .await
        .expect("retire"));
    assert!(store
        .retire_signing_key(&old.kid, at)
        .await
        .expect("retire"));
    assert!(!store.retire_signing_key(&old.kid, at).await.expect("again"));
    let mut want = old.clone();
    want.state = SigningKeyState::Retired;
    want.state_since = at;
    want.sealed_private.clear();
    assert_eq!(keys(&*store).await, vec![active, want]);
}
