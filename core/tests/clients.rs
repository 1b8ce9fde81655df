//! Client management: registration rules, secrets, rotation, deletion and
//! domain verification.

mod common;

use common::*;
use latchkey::clients::{ClientRegistration, ClientUpdate};
use latchkey::http::HttpRequest;
use latchkey::introspect::Audience;
use latchkey::model::{AuthMethod, DomainState, EventKind, GrantType, Visibility};

fn reg(name: &str) -> ClientRegistration {
    ClientRegistration {
        owner: "acme".into(),
        name: name.into(),
        redirect_uris: vec![REDIRECT.into()],
        scopes: vec!["profile:read".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn secrets_are_generated_shown_once_and_stored_hashed() {
    let h = harness().await;
    let r = h
        .engine
        .register_client(&operator(), reg("A"))
        .await
        .unwrap();
    let secret = r.secret.unwrap();
    assert!(secret.expose().starts_with("lk_cs_") && secret.expose().len() == 50);
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    let stored = h.engine.get_client(&r.client.id).await.unwrap();
    let dump = serde_json::to_string(&stored).unwrap();
    assert!(
        !dump.contains(secret.expose()),
        "the secret is not stored in the clear"
    );
    assert!(stored.secret.is_some());
}

#[tokio::test]
async fn registration_rules_are_enforced() {
    let h = harness().await;
    let cases: Vec<(ClientRegistration, &str)> = vec![
        (
            ClientRegistration {
                name: "".into(),
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                redirect_uris: vec!["http://app.example/cb".into()],
                ..reg("x")
            },
            "invalid_redirect_uri",
        ),
        (
            ClientRegistration {
                redirect_uris: vec![],
                ..reg("x")
            },
            "invalid_redirect_uri",
        ),
        (
            ClientRegistration {
                scopes: vec!["admin".into()],
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                auth_method: Some(AuthMethod::None),
                grant_types: vec![GrantType::ClientCredentials],
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                grant_types: vec![GrantType::RefreshToken],
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                visibility: Some(Visibility::Public),
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                resources: vec!["not a uri".into()],
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                secret: Some("short".into()),
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
        (
            ClientRegistration {
                auth_method: Some(AuthMethod::None),
                secret: Some("x".repeat(50)),
                ..reg("x")
            },
            "invalid_client_metadata",
        ),
    ];
    for (r, code) in cases {
        let e = h
            .engine
            .register_client(&operator(), r.clone())
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{r:?}");
    }
    assert_eq!(
        h.engine.list_clients("acme").await.unwrap().len(),
        2,
        "only the harness clients exist"
    );
    // Seeded clients keep their id and operator secret; the id is unique.
    let seeded = ClientRegistration {
        id: Some("first-party".into()),
        secret: Some("s".repeat(43)),
        ..reg("Seeded")
    };
    h.engine
        .register_client(&operator(), seeded.clone())
        .await
        .unwrap();
    assert_eq!(
        h.engine
            .register_client(&operator(), seeded)
            .await
            .unwrap_err()
            .code(),
        "invalid_client_metadata"
    );
    let ok = h
        .engine
        .token(
            &HttpRequest::form_post(&[
                ("grant_type", "authorization_code"),
                ("code", "lk_ac_x"),
                ("code_verifier", VERIFIER),
            ])
            .with_header("Authorization", &basic("first-party", &"s".repeat(43))),
        )
        .await;
    assert_eq!(
        error_code(&ok),
        "invalid_grant",
        "authenticated with the seeded secret"
    );
}

#[tokio::test]
async fn rotated_secret_overlaps_then_stops() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    let old = h.app.secret.as_ref().unwrap().expose().to_owned();
    let new = h
        .engine
        .rotate_client_secret(&operator(), &id)
        .await
        .unwrap();
    let cc = |s: &str| {
        HttpRequest::form_post(&[("grant_type", "client_credentials")])
            .with_header("Authorization", &basic(&id, s))
    };
    assert_eq!(h.engine.token(&cc(new.expose())).await.status, 200);
    assert_eq!(h.engine.token(&cc(&old)).await.status, 200, "overlap");
    h.clock.advance(86_400);
    assert_eq!(h.engine.token(&cc(&old)).await.status, 401);
    assert_eq!(h.engine.token(&cc(new.expose())).await.status, 200);
    assert_eq!(
        h.engine
            .rotate_client_secret(&operator(), &h.cli.client.id)
            .await
            .unwrap_err()
            .code(),
        "invalid_client_metadata"
    );
    let kinds: Vec<_> = h
        .engine
        .poll_events("t", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&EventKind::SecretRotated { client_id: id }));
}

#[tokio::test]
async fn deleting_a_client_cuts_every_token() {
    let h = harness().await;
    let (at, rt) = h.tokens("profile:read").await;
    h.engine
        .delete_client(&operator(), &h.app.client.id)
        .await
        .unwrap();
    assert_eq!(
        h.engine
            .delete_client(&operator(), &h.app.client.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert!(h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at}")),
            Audience::AnyResource,
            &[]
        )
        .await
        .is_err());
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());
    let cli_auth = HttpRequest::form_post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", &h.cli.client.id),
    ]);
    assert_eq!(
        error_code(&h.engine.token(&cli_auth).await),
        "invalid_grant"
    );
}

#[tokio::test]
async fn domain_verification_lifecycle() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    assert!(h
        .engine
        .start_domain_verification(&operator(), &id, "not a domain")
        .await
        .is_err());
    assert!(
        h.engine
            .confirm_domain(&operator(), &id, "app.example")
            .await
            .is_err(),
        "nothing pending"
    );
    h.engine
        .start_domain_verification(&operator(), &id, "app.example")
        .await
        .unwrap();
    h.clock.advance(7 * 86_400);
    assert!(
        h.engine
            .confirm_domain(&operator(), &id, "app.example")
            .await
            .is_err(),
        "expired"
    );
    let c = h.engine.get_client(&id).await.unwrap();
    assert_eq!(c.domains[0].state, DomainState::Expired);
    let d = h
        .engine
        .start_domain_verification(&operator(), &id, "app.example")
        .await
        .unwrap();
    assert!(matches!(d.state, DomainState::Pending { .. }));
    let c = h
        .engine
        .confirm_domain(&operator(), &id, "app.example")
        .await
        .unwrap();
    assert!(c.domains[0].is_verified());
    assert!(
        h.engine
            .start_domain_verification(&operator(), &id, "app.example")
            .await
            .is_err(),
        "already verified"
    );
    h.engine
        .update_client(
            &operator(),
            &id,
            ClientUpdate {
                visibility: Some(Visibility::Public),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A public client cannot lose the domain its redirect URIs need.
    assert!(h
        .engine
        .expire_domain_verification(&operator(), &id, "app.example")
        .await
        .is_err());
    // Nor add a redirect URI off its verified domains.
    let off = ClientUpdate {
        redirect_uris: Some(vec!["https://elsewhere.example/cb".into()]),
        ..Default::default()
    };
    assert_eq!(
        h.engine
            .update_client(&operator(), &id, off)
            .await
            .unwrap_err()
            .code(),
        "invalid_redirect_uri"
    );
}

#[tokio::test]
async fn listing_and_updates() {
    let h = harness().await;
    let listed = h.engine.list_clients("acme").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(h.engine.list_clients("globex").await.unwrap().is_empty());
    let c = h
        .engine
        .update_client(
            &operator(),
            &h.app.client.id,
            ClientUpdate {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((c.name.as_str(), c.revision), ("Renamed", 1));
    assert_eq!(
        h.engine
            .update_client(&operator(), "ghost", ClientUpdate::default())
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
}

const SEED_A: &str = "seed-secret-a-0123456789-abcdefghijklmnopqrstuvwxyz";
const SEED_B: &str = "seed-secret-b-0123456789-abcdefghijklmnopqrstuvwxyz";

fn seed(name: &str, secret: Option<&str>) -> ClientRegistration {
    ClientRegistration {
        id: Some("seeded".into()),
        secret: secret.map(str::to_owned),
        ..reg(name)
    }
}

async fn authenticates(h: &Harness, secret: &str) -> bool {
    let req = HttpRequest::form_post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "lk_rt_x"),
    ])
    .with_header("Authorization", &basic("seeded", secret));
    h.engine.token(&req).await.status != 401
}

#[tokio::test]
async fn upsert_creates_leaves_alone_and_updates_every_field() {
    use latchkey::clients::UpsertOutcome::*;
    let h = harness().await;
    let r = h
        .engine
        .upsert_client(&operator(), seed("One", Some(SEED_A)))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.secret.is_none()),
        (Created, true),
        "the operator's secret is not echoed"
    );
    let rev = h.engine.get_client("seeded").await.unwrap().revision;
    let events = h.engine.poll_events("t", 100).await.unwrap().len();
    let r = h
        .engine
        .upsert_client(&operator(), seed("One", Some(SEED_A)))
        .await
        .unwrap();
    assert_eq!(r.outcome, Unchanged);
    assert_eq!(
        h.engine.get_client("seeded").await.unwrap().revision,
        rev,
        "no-op restarts write nothing"
    );
    assert_eq!(h.engine.poll_events("t", 100).await.unwrap().len(), events);

    assert_eq!(
        h.engine
            .upsert_client(&operator(), seed("Two", Some(SEED_A)))
            .await
            .unwrap()
            .outcome,
        Updated
    );
    assert_eq!(h.engine.get_client("seeded").await.unwrap().name, "Two");
    // A new operator secret replaces the old one at once.
    h.engine
        .upsert_client(&operator(), seed("Two", Some(SEED_B)))
        .await
        .unwrap();
    assert!(authenticates(&h, SEED_B).await && !authenticates(&h, SEED_A).await);
    // Owner changes too.
    let moved = ClientRegistration {
        owner: "globex".into(),
        ..seed("Two", Some(SEED_B))
    };
    h.engine.upsert_client(&operator(), moved).await.unwrap();
    assert_eq!(h.engine.list_clients("globex").await.unwrap().len(), 1);
    // Public: the secret goes.
    let public = ClientRegistration {
        auth_method: Some(AuthMethod::None),
        ..seed("Two", None)
    };
    h.engine.upsert_client(&operator(), public).await.unwrap();
    assert!(h
        .engine
        .get_client("seeded")
        .await
        .unwrap()
        .secret
        .is_none());
    // Back to confidential without a secret: one is generated and shown once.
    let r = h
        .engine
        .upsert_client(&operator(), seed("Two", None))
        .await
        .unwrap();
    let s = r.secret.expect("generated");
    assert!(authenticates(&h, s.expose()).await);
    // Invalid seeds change nothing.
    assert!(h
        .engine
        .upsert_client(&operator(), seed("Two", Some("short")))
        .await
        .is_err());
    let bad = ClientRegistration {
        scopes: vec!["nope".into()],
        ..seed("Two", None)
    };
    assert!(h.engine.upsert_client(&operator(), bad).await.is_err());
    assert!(authenticates(&h, s.expose()).await);
    assert!(h
        .engine
        .upsert_client(&operator(), reg("no id"))
        .await
        .is_err());
}

#[tokio::test]
async fn names_must_be_plain_text_and_nobody_elses() {
    let h = harness().await;
    // Hidden and reordering characters, and the page's own words.
    for name in [
        "\u{202E}ppA beW omeD",
        "Demo\u{200B}Web",
        "Demo\u{2066}Web\u{2069}",
        "Demo\u{FEFF}",
        "Demo\u{00AD}Web",
        "Verified Payments",
        "Latchkey",
        "Allow",
    ] {
        let e = h
            .engine
            .register_client(&operator(), reg(name))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_client_metadata", "{name:?}: {e}");
    }
    // Compatibility look-alikes are stored as the letters they imitate.
    let c = h
        .engine
        .register_client(&operator(), reg("  Ｆｕｌｌ   Width "))
        .await
        .unwrap();
    assert_eq!(c.client.name, "Full Width");

    // Another owner cannot take a name that looks like acme's app, in any
    // spelling; acme itself may reuse its own.
    let taken = h.app.client.name.clone();
    let mimic = |name: &str| ClientRegistration {
        owner: "globex".into(),
        ..reg(name)
    };
    let cyrillic = taken.replace('a', "а").replace('e', "е").replace('o', "о");
    for name in [
        taken.clone(),
        taken.to_uppercase(),
        cyrillic,
        format!("{taken}."),
    ] {
        let e = h
            .engine
            .register_client(&operator(), mimic(&name))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_client_metadata", "{name:?}");
        assert!(e.to_string().contains("another app"), "{e}");
    }
    h.engine
        .register_client(&operator(), reg(&taken))
        .await
        .unwrap();
    // Renaming into it is refused too; keeping one's own name is fine.
    let g = h
        .engine
        .register_client(&operator(), mimic("Globex Tool"))
        .await
        .unwrap();
    let e = h
        .engine
        .update_client(
            &operator(),
            &g.client.id,
            ClientUpdate {
                name: Some(taken.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_client_metadata");
    assert_eq!(
        h.engine.get_client(&g.client.id).await.unwrap().name,
        "Globex Tool",
        "nothing changed"
    );
    h.engine
        .update_client(
            &operator(),
            &g.client.id,
            ClientUpdate {
                scopes: Some(vec!["profile:read".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn urls_must_be_ascii_and_host_product_names_are_reserved() {
    let mut config = latchkey::EngineConfig::new(ISSUER, scopes());
    config.reserved_client_names = vec!["Acme Cloud".into()];
    let (engine, _) = engine_configured(std::sync::Arc::new(latchkey::MemoryStore::new()), config);
    let e = engine
        .register_client(&operator(), reg("acme-cloud Support"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Acme Cloud"), "{e}");
    let e = engine
        .register_client(
            &operator(),
            ClientRegistration {
                resources: vec!["https://аpi.example/".into()],
                ..reg("Tool")
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ASCII"), "{e}");
}

/// Found by the `redirect_uri` fuzz target: the verified-domain rule read
/// a private-use scheme forwards, as a host name, so `com.example.app`
/// counted as under `example.app` (somebody else's domain) and not under
/// `example.com`, whose reversed form it is (RFC 8252 §7.1).
#[tokio::test]
async fn a_private_use_scheme_is_on_the_domain_it_reverses() {
    let h = harness().await;
    let native = |name: &str| ClientRegistration {
        owner: "acme".into(),
        name: name.into(),
        redirect_uris: vec!["com.example.app:/oauth".into()],
        scopes: vec!["profile:read".into()],
        auth_method: Some(AuthMethod::None),
        ..Default::default()
    };
    let public = || ClientUpdate {
        visibility: Some(Visibility::Public),
        ..Default::default()
    };
    // The owner of example.com may publish the app at com.example.app.
    let ours = h
        .engine
        .register_client(&operator(), native("Ours"))
        .await
        .unwrap();
    let id = ours.client.id.clone();
    h.engine
        .start_domain_verification(&operator(), &id, "example.com")
        .await
        .unwrap();
    let c = h
        .engine
        .confirm_domain(&operator(), &id, "example.com")
        .await
        .unwrap();
    assert!(c.publisher_verified());
    h.engine
        .update_client(&operator(), &id, public())
        .await
        .unwrap();

    // The owner of example.app may not, nor pass as its publisher.
    let theirs = h
        .engine
        .register_client(&operator(), native("Theirs"))
        .await
        .unwrap();
    let id = theirs.client.id.clone();
    h.engine
        .start_domain_verification(&operator(), &id, "example.app")
        .await
        .unwrap();
    let c = h
        .engine
        .confirm_domain(&operator(), &id, "example.app")
        .await
        .unwrap();
    assert!(!c.publisher_verified());
    assert_eq!(
        h.engine
            .update_client(&operator(), &id, public())
            .await
            .unwrap_err()
            .code(),
        "invalid_redirect_uri"
    );
}
