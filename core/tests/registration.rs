//! Dynamic client registration (RFC 7591) and management (RFC 7592).

mod common;

use std::sync::Arc;

use common::*;
use latchkey::clock::{ManualClock, Timestamp};
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::model::Visibility;
use latchkey::registration::{RegistrationAccess, RegistrationConfig};
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, MemoryStore, ScopeSet,
};

fn engine(access: RegistrationAccess, max: usize) -> (Engine<MemoryStore>, Arc<ManualClock>) {
    let mut config = EngineConfig::new(ISSUER, scopes());
    let mut reg = RegistrationConfig::open(
        ScopeSet::parse("profile:read dns:read").unwrap(),
        vec![API.into()],
    );
    reg.access = access;
    reg.max_clients = max;
    config.registration = Some(reg);
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let e = Engine::new(
        Arc::new(MemoryStore::new()),
        config,
        Keyring::new(&[(1, [9u8; 32])]).unwrap(),
    )
    .with_clock(clock.clone());
    (e, clock)
}

fn post_json(body: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn with_bearer(mut r: HttpRequest, t: &str) -> HttpRequest {
    r.headers
        .push(("Authorization".into(), format!("Bearer {t}")));
    r
}

const PUBLIC_AGENT: &str = r#"{"client_name":"Agent","redirect_uris":["http://localhost:3000/cb"],
  "token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],
  "client_id":"chosen-by-client","client_secret":"chosen-secret","x_unknown":{"a":1}}"#;

fn body(r: &HttpResponse) -> serde_json::Value {
    r.json_body()
}

#[tokio::test]
async fn registration_is_off_unless_configured() {
    let h = harness().await;
    let r = h.engine.register(&post_json(PUBLIC_AGENT)).await;
    assert_eq!(r.status, 404);
    assert!(h.engine.metadata().get("registration_endpoint").is_none());
}

#[tokio::test]
async fn an_agent_registers_itself_and_signs_a_user_in() {
    let (e, _) = engine(RegistrationAccess::Open, 10);
    assert_eq!(
        e.metadata()["registration_endpoint"],
        format!("{ISSUER}/oauth/register")
    );
    let r = e.register(&post_json(PUBLIC_AGENT)).await;
    assert_eq!(r.status, 201, "{}", body(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let info = body(&r);
    let id = info["client_id"].as_str().unwrap();
    assert_ne!(id, "chosen-by-client", "the server assigns client_id");
    assert!(
        info.get("client_secret").is_none(),
        "public clients get no secret"
    );
    assert_eq!(info["token_endpoint_auth_method"], "none");
    assert_eq!(
        info["scope"], "dns:read profile:read",
        "the policy's scopes"
    );
    assert!(info.get("x_unknown").is_none());
    // A narrower `scope` is accepted but caps nothing: the client can
    // step up later to any scope the policy allows (MCP 2025-11-25).
    let narrow = PUBLIC_AGENT.replacen('{', r#"{"scope":"profile:read","#, 1);
    let r = e.register(&post_json(&narrow)).await;
    assert_eq!(r.status, 201, "{}", body(&r));
    assert_eq!(body(&r)["scope"], "dns:read profile:read");
    assert!(info["registration_access_token"]
        .as_str()
        .unwrap()
        .starts_with("lk_ra_"));
    assert_eq!(
        info["registration_client_uri"],
        format!("{ISSUER}/oauth/register/{id}")
    );

    // A user authorizes it: always asked (nobody vetted it), even after
    // "don't ask again".
    for _ in 0..2 {
        let req = HttpRequest::get(&[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", "http://localhost:3000/cb"),
            ("scope", "profile:read"),
            ("resource", API),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let AuthorizeOutcome::ConsentRequired(p) =
            e.authorize(&req, Some(&mallory()), BINDING).await
        else {
            panic!("consent expected")
        };
        assert_eq!(p.visibility, Visibility::Unvetted);
        let d = ConsentDecision {
            scopes: None,
            remember: true,
        };
        let AuthorizeOutcome::Redirect(url) = e
            .accept(
                p.challenge.expose(),
                BINDING,
                &mallory(),
                d,
                &latchkey::Source::default(),
            )
            .await
        else {
            panic!("redirect expected")
        };
        let code = query_param(&url, "code").unwrap();
        let t = e
            .token(&HttpRequest::form_post(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:3000/cb"),
                ("code_verifier", VERIFIER),
                ("client_id", id),
            ]))
            .await;
        assert_eq!(t.status, 200, "{}", t.json_body());
    }
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_rfc_codes() {
    let (e, _) = engine(RegistrationAccess::Open, 10);
    for (req, status, code) in [
        (
            post_json(r#"{"redirect_uris":["javascript:alert(1)"]}"#),
            400,
            "invalid_redirect_uri",
        ),
        (post_json("not json"), 400, "invalid_client_metadata"),
        (
            post_json(r#"{"redirect_uris":["https://a.example/cb"],"scope":"dns:edit"}"#),
            400,
            "invalid_client_metadata",
        ),
        (
            HttpRequest {
                method: "POST".into(),
                headers: vec![(
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: b"redirect_uris=https://a.example/cb".to_vec(),
                ..Default::default()
            },
            400,
            "invalid_request",
        ),
        (
            HttpRequest {
                method: "GET".into(),
                ..Default::default()
            },
            405,
            "invalid_request",
        ),
    ] {
        let r = e.register(&req).await;
        assert_eq!((r.status, error_code(&r).as_str()), (status, code));
    }
    assert!(e
        .list_clients("dynamic-registration")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn initial_access_tokens_gate_registration() {
    let (e, _) = engine(
        RegistrationAccess::InitialAccessTokens(vec!["iat-secret-123".into()]),
        10,
    );
    let ok = r#"{"redirect_uris":["https://a.example/cb"]}"#;
    assert_eq!(e.register(&post_json(ok)).await.status, 401);
    let r = e.register(&with_bearer(post_json(ok), "wrong")).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let r = e
        .register(&with_bearer(post_json(ok), "iat-secret-123"))
        .await;
    assert_eq!(r.status, 201);
    assert!(body(&r)["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("lk_cs_"));
}

#[tokio::test]
async fn the_quota_holds() {
    let (e, _) = engine(RegistrationAccess::Open, 1);
    let ok = r#"{"redirect_uris":["https://a.example/cb"]}"#;
    assert_eq!(e.register(&post_json(ok)).await.status, 201);
    let r = e.register(&post_json(ok)).await;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "access_denied"));
}

#[tokio::test]
async fn a_client_reads_updates_and_deletes_its_registration() {
    let (e, _) = engine(RegistrationAccess::Open, 10);
    let info = body(
        &e.register(&post_json(
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Old"}"#,
        ))
        .await,
    );
    let id = info["client_id"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let get = |t: &str| with_bearer(HttpRequest::new("GET"), t);

    let r = e.manage_registration(&get(&rat), &id).await;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["client_name"], "Old");
    assert!(
        body(&r).get("client_secret").is_none(),
        "secrets are never read back"
    );
    for wrong in ["lk_ra_nope", &secret] {
        assert_eq!(e.manage_registration(&get(wrong), &id).await.status, 401);
    }
    assert_eq!(
        e.manage_registration(&HttpRequest::new("GET"), &id)
            .await
            .status,
        401
    );

    let mut put = post_json(&format!(
        r#"{{"client_id":"{id}","client_secret":"{secret}","client_name":"New","redirect_uris":["https://a.example/new"]}}"#
    ));
    put.method = "PUT".into();
    let r = e.manage_registration(&with_bearer(put, &rat), &id).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(
        body(&r)["redirect_uris"],
        serde_json::json!(["https://a.example/new"])
    );
    assert_eq!(e.get_client(&id).await.unwrap().name, "New");
    let mut put = post_json(r#"{"client_name":"No id"}"#);
    put.method = "PUT".into();
    assert_eq!(
        e.manage_registration(&with_bearer(put, &rat), &id)
            .await
            .status,
        400
    );

    let del = with_bearer(HttpRequest::new("DELETE"), &rat);
    assert_eq!(e.manage_registration(&del, &id).await.status, 204);
    assert_eq!(e.manage_registration(&get(&rat), &id).await.status, 401);
    assert!(e.get_client(&id).await.is_err());
}

#[tokio::test]
async fn unused_registrations_expire_and_used_ones_stay() {
    let (e, clock) = engine(RegistrationAccess::Open, 10);
    let unused = body(&e.register(&post_json(PUBLIC_AGENT)).await)["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let used = body(&e.register(&post_json(PUBLIC_AGENT)).await)["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", &used),
        ("redirect_uri", "http://localhost:3000/cb"),
        ("scope", "profile:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let AuthorizeOutcome::ConsentRequired(p) = e.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    let _ = e
        .accept(
            p.challenge.expose(),
            BINDING,
            &alice(),
            ConsentDecision::default(),
            &latchkey::Source::default(),
        )
        .await;
    assert_eq!(
        e.purge_unused_registrations(100).await.unwrap(),
        0,
        "too young"
    );
    clock.advance(86_400);
    assert_eq!(e.purge_unused_registrations(100).await.unwrap(), 1);
    assert!(e.get_client(&unused).await.is_err());
    assert!(e.get_client(&used).await.is_ok());
}

#[tokio::test]
async fn displayed_metadata_must_be_plain_text_and_not_imitate_an_app() {
    let (e, _) = engine(RegistrationAccess::Open, 10);
    let console = e
        .register_client(
            &operator(),
            latchkey::clients::ClientRegistration {
                owner: "acme".into(),
                name: "Acme Dashboard".into(),
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec!["profile:read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let agent = |name: &str, uri: &str| {
        format!(
            r#"{{"client_name":"{name}","client_uri":"{uri}","redirect_uris":["http://localhost:3000/cb"],
                "token_endpoint_auth_method":"none"}}"#
        )
    };
    for (name, uri, needle) in [
        (
            "\u{202E}draobhsaD emcA",
            "https://agent.example/",
            "client_name contains a bidirectional control character (U+202E)",
        ),
        (
            "Agent\u{200D}",
            "https://agent.example/",
            "client_name contains an invisible formatting character (U+200D)",
        ),
        ("Agent\u{E0041}", "https://agent.example/", "U+E0041"),
        ("acme dashboard", "https://agent.example/", "another app"),
        ("Verified Agent", "https://agent.example/", "verified"),
        (
            "Agent",
            "https://аgent.example/",
            "client_uri must be visible ASCII",
        ),
    ] {
        let r = e.register(&post_json(&agent(name, uri))).await;
        assert_eq!(r.status, 400, "{name:?}");
        let b = body(&r);
        assert_eq!(b["error"], "invalid_client_metadata", "{name:?}: {b}");
        let d = b["error_description"].as_str().unwrap();
        assert!(d.contains(needle), "{name:?}: {d}");
    }
    // Agents may share a name among themselves (every install registers).
    for _ in 0..2 {
        let r = e
            .register(&post_json(&agent("Agent", "https://agent.example/")))
            .await;
        assert_eq!(r.status, 201, "{}", body(&r));
    }
    // NFKC: a fullwidth name is stored as plain letters.
    let r = e
        .register(&post_json(&agent(
            "Ａｇｅｎｔ Two",
            "https://agent.example/",
        )))
        .await;
    assert_eq!(body(&r)["client_name"], "Agent Two");
    assert_eq!(e.list_clients("acme").await.unwrap(), vec![console.client]);
}
