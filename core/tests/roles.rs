//! Who may do what to an account's clients (owner, developer, viewer,
//! operator), and that every change's event names who made it.

mod common;

use common::*;
use latchkey::audit::ClientAction;
use latchkey::clients::{ClientRegistration, ClientUpdate};
use latchkey::model::{ClientRecord, Event, EventKind, Visibility};
use latchkey::{Acting, Actor, Audit, ManageError, Role, Source};

fn from(addr: &str, ua: &str) -> Source {
    Source::new(Some(addr.parse().unwrap()), Some(ua))
}

fn member(subject: &str, role: Role) -> Acting {
    Acting::member(subject, "acme", role, from("192.0.2.5", "Console/1.0"))
}

fn reg(name: &str) -> ClientRegistration {
    ClientRegistration {
        owner: "acme".into(),
        name: name.into(),
        redirect_uris: vec![REDIRECT.into()],
        scopes: vec!["profile:read".into()],
        ..Default::default()
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, ManageError>) {
    match r {
        Err(e @ ManageError::Forbidden(_)) => assert_eq!(e.user_facing().0, 403),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

fn user(subject: &str) -> Actor {
    Actor::User {
        subject: subject.into(),
    }
}

/// Every event so far (a fresh consumer each time).
async fn events<S: latchkey::storage::Storage + ?Sized>(
    engine: &latchkey::Engine<S>,
) -> Vec<Event> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("t{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    engine.poll_events(&name, 10_000).await.unwrap()
}

fn rotations_of(events: &[Event], id: &str) -> Vec<Audit> {
    events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::SecretRotated { client_id } if client_id == id))
        .map(|e| e.audit.clone().expect("audit"))
        .collect()
}

async fn carols_app<S: latchkey::storage::Storage + ?Sized>(
    engine: &latchkey::Engine<S>,
) -> ClientRecord {
    let carol = member("carol", Role::Developer);
    let c = engine
        .register_client(&carol, reg("Carol's tool"))
        .await
        .unwrap()
        .client;
    assert_eq!(c.created_by, Some(user("carol")));
    c
}

#[tokio::test]
async fn a_developer_rotates_and_deletes_only_what_they_created() {
    let h = harness().await;
    let app = carols_app(&h.engine).await;
    let dave = member("dave", Role::Developer);
    let before = h.engine.get_client(&app.id).await.unwrap();

    forbidden(h.engine.rotate_client_secret(&dave, &app.id).await);
    forbidden(h.engine.delete_client(&dave, &app.id).await);
    // Nothing changed and nothing was recorded.
    assert_eq!(h.engine.get_client(&app.id).await.unwrap(), before);
    let evs = events(&h.engine).await;
    assert!(rotations_of(&evs, &app.id).is_empty());
    assert!(!evs
        .iter()
        .any(|e| matches!(&e.kind, EventKind::ClientDeleted { .. })));

    // The harness's apps were registered by an operator: no developer
    // created them, so none may rotate them.
    forbidden(h.engine.rotate_client_secret(&dave, &h.app.client.id).await);

    // Developers may still edit any app of the account.
    let renamed = h
        .engine
        .update_client(
            &dave,
            &app.id,
            ClientUpdate {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Renamed");

    // The creator may rotate and delete.
    let carol = member("carol", Role::Developer);
    h.engine
        .rotate_client_secret(&carol, &app.id)
        .await
        .unwrap();
    h.engine.delete_client(&carol, &app.id).await.unwrap();

    let evs = events(&h.engine).await;
    let rot = rotations_of(&evs, &app.id);
    assert_eq!(rot.len(), 1);
    assert_eq!(rot[0].actor, user("carol"));
    assert_eq!(rot[0].source.address(), Some("192.0.2.5".parse().unwrap()));
    assert_eq!(rot[0].source.user_agent(), Some("Console/1.0"));
    let named = |pred: fn(&EventKind) -> bool| -> Vec<Actor> {
        evs.iter()
            .filter(|e| pred(&e.kind))
            .map(|e| e.audit.clone().unwrap().actor)
            .collect()
    };
    assert_eq!(
        named(|k| matches!(k, EventKind::ClientDeleted { .. })),
        [user("carol")]
    );
    assert_eq!(
        named(|k| matches!(k, EventKind::ClientUpdated { .. })),
        [user("dave")]
    );
}

#[tokio::test]
async fn an_owner_manages_every_app_of_the_account() {
    let h = harness().await;
    let app = carols_app(&h.engine).await;
    let olga = member("olga", Role::Owner);
    let secret = h.engine.rotate_client_secret(&olga, &app.id).await.unwrap();
    assert!(secret.expose().starts_with("lk_cs_"));
    h.engine
        .rotate_client_secret(&olga, &h.app.client.id)
        .await
        .unwrap();
    h.engine.delete_client(&olga, &app.id).await.unwrap();
    let evs = events(&h.engine).await;
    assert_eq!(rotations_of(&evs, &app.id)[0].actor, user("olga"));
    assert_eq!(rotations_of(&evs, &h.app.client.id)[0].actor, user("olga"));
}

#[tokio::test]
async fn a_viewer_changes_nothing() {
    let h = harness().await;
    let app = carols_app(&h.engine).await;
    let vic = member("vic", Role::Viewer);
    forbidden(h.engine.register_client(&vic, reg("Vic's")).await);
    forbidden(h.engine.rotate_client_secret(&vic, &app.id).await);
    forbidden(h.engine.delete_client(&vic, &app.id).await);
    forbidden(
        h.engine
            .update_client(
                &vic,
                &app.id,
                ClientUpdate {
                    visibility: Some(Visibility::Private),
                    ..Default::default()
                },
            )
            .await,
    );
    forbidden(
        h.engine
            .start_domain_verification(&vic, &app.id, "app.example")
            .await,
    );
    assert_eq!(h.engine.list_clients("acme").await.unwrap().len(), 3);
    // Reading is the host's to allow: the record is there to show.
    assert_eq!(h.engine.get_client(&app.id).await.unwrap().id, app.id);
}

#[tokio::test]
async fn another_accounts_members_find_nothing() {
    let h = harness().await;
    let app = carols_app(&h.engine).await;
    let eve = Acting::member("eve", "evil-corp", Role::Owner, Source::default());
    for r in [
        h.engine
            .rotate_client_secret(&eve, &app.id)
            .await
            .map(|_| ()),
        h.engine.delete_client(&eve, &app.id).await,
    ] {
        assert!(matches!(r, Err(ManageError::NotFound(_))), "{r:?}");
    }
    // Registering into another account is refused the same way.
    assert!(matches!(
        h.engine.register_client(&eve, reg("Planted")).await,
        Err(ManageError::NotFound(_))
    ));
    assert!(h.engine.get_client(&app.id).await.is_ok());
}

#[tokio::test]
async fn only_operators_upsert_and_they_may_do_anything() {
    let h = harness().await;
    let seeded = ClientRegistration {
        id: Some("seeded".into()),
        ..reg("Seeded")
    };
    forbidden(
        h.engine
            .upsert_client(&member("olga", Role::Owner), seeded.clone())
            .await,
    );
    let ops = Acting::operator("deploy-bot", from("198.51.100.1", "seed/1"));
    let up = h.engine.upsert_client(&ops, seeded).await.unwrap();
    assert_eq!(
        up.client.created_by,
        Some(Actor::Operator {
            id: "deploy-bot".into()
        })
    );
    let app = carols_app(&h.engine).await;
    h.engine.rotate_client_secret(&ops, &app.id).await.unwrap();
    let evs = events(&h.engine).await;
    let rot = rotations_of(&evs, &app.id);
    assert_eq!(
        rot[0].actor,
        Actor::Operator {
            id: "deploy-bot".into()
        }
    );
    assert_eq!(rot[0].source.user_agent(), Some("seed/1"));
}

#[tokio::test]
async fn a_client_without_a_recorded_creator_is_for_owners_only() {
    // Records written before creators were kept read back with none.
    let h = harness().await;
    let mut stored = serde_json::to_value(&h.app.client).unwrap();
    stored.as_object_mut().unwrap().remove("created_by");
    let mut c: ClientRecord = serde_json::from_value(stored).unwrap();
    assert_eq!(c.created_by, None);
    let dev = member("dave", Role::Developer);
    assert!(dev.check(ClientAction::RotateSecret, &c).is_err());
    assert!(dev.check(ClientAction::Delete, &c).is_err());
    assert!(dev.check(ClientAction::Update, &c).is_ok());
    assert!(member("olga", Role::Owner)
        .check(ClientAction::Delete, &c)
        .is_ok());
    c.created_by = Some(user("dave"));
    assert!(dev.check(ClientAction::Delete, &c).is_ok());
    assert!(member("carol", Role::Developer)
        .check(ClientAction::Delete, &c)
        .is_err());
}
