//! JWT access tokens (RFC 9068) through the engine: which tokens are JWTs,
//! what they hold, the JWKS, local verification and its limits,
//! introspection and revocation, rotation timing on the manual clock,
//! several instances on one store, storage failures and redaction.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::faulty::Faulty;
use common::*;
use latchkey::clock::{ManualClock, Timestamp};
use latchkey::http::HttpRequest;
use latchkey::introspect::{Audience, BearerError};
use latchkey::jwt::{JwtResources, SigningAlgorithm, SigningKeyState};
use latchkey::storage::{SigningKeyStore, Storage};
use latchkey::{Engine, Keyring, MemoryStore};

async fn jwt_harness(alg: SigningAlgorithm) -> Harness {
    harness_with_jwt_on(Arc::new(MemoryStore::new()), alg).await
}

/// The harness and its store, to look at what is stored.
async fn jwt_harness_and_store(alg: SigningAlgorithm) -> (Harness, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (harness_with_jwt_on(store.clone(), alg).await, store)
}

fn part(token: &str, i: usize) -> serde_json::Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn bearer(token: &str) -> HttpRequest {
    HttpRequest::get(&[]).with_header("Authorization", &format!("Bearer {token}"))
}

async fn check<S: Storage + ?Sized>(
    h: &Harness<S>,
    token: &str,
    aud: Audience<'_>,
) -> Result<latchkey::introspect::TokenInfo, BearerError> {
    h.engine.verify_bearer(&bearer(token), aud, &[]).await
}

/// Checks `token`'s signature with the published JWK, using ring directly
/// as a resource server's JOSE library would.
fn verifies_with_jwks(token: &str, jwks: &serde_json::Value) -> bool {
    let kid = part(token, 0)["kid"].as_str().unwrap().to_owned();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let b = |f: &str| URL_SAFE_NO_PAD.decode(jwk[f].as_str().unwrap()).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
    match jwk["kty"].as_str().unwrap() {
        "OKP" => UnparsedPublicKey::new(&ED25519, b("x")).verify(input.as_bytes(), &sig),
        "EC" => {
            let mut point = vec![4u8];
            point.extend(b("x"));
            point.extend(b("y"));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input.as_bytes(), &sig)
        }
        other => panic!("unexpected kty {other}"),
    }
    .is_ok()
}

#[tokio::test]
async fn tokens_for_jwt_resources_are_signed_jwts_with_the_rfc_9068_claims() {
    for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let h = jwt_harness(alg).await;
        let (at, rt) = h.tokens("profile:read").await;
        assert!(rt.starts_with("lk_rt_"), "refresh tokens stay opaque");
        let header = part(&at, 0);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], alg.as_str());
        let c = part(&at, 1);
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["aud"], API);
        assert_eq!(c["client_id"], h.app.client.id.as_str());
        assert_eq!(c["scope"], "profile:read");
        assert_eq!(c["iat"], 1_800_000_000u64);
        assert_eq!(c["nbf"], 1_800_000_000u64);
        assert_eq!(c["exp"], 1_800_000_900u64);
        assert!(c["jti"].as_str().unwrap().starts_with("lk_ji_"));
        let jwks = h.engine.jwks().await.unwrap();
        assert!(verifies_with_jwks(&at, &jwks), "{alg:?}");
        let info = check(&h, &at, Audience::Resource(API)).await.unwrap();
        assert_eq!((info.sub.as_str(), info.exp), ("alice", 1_800_000_900));
        assert_eq!(h.introspect(&at).await["active"], true);
        // A refreshed token is a JWT too; its lifetime is capped.
        let j = h.refresh(&rt, &[]).await.json_body();
        let next = j["access_token"].as_str().unwrap();
        assert_eq!(part(next, 0)["typ"], "at+jwt");
        assert_eq!(j["expires_in"], 900);
    }
}

#[tokio::test]
async fn tokens_without_a_jwt_audience_stay_opaque() {
    let h = jwt_harness(SigningAlgorithm::EdDsa).await;
    // client_credentials for the app without a resource: no audience.
    let mut config = jwt_config(SigningAlgorithm::EdDsa);
    config.jwt.as_mut().unwrap().resources =
        JwtResources::Only(vec!["https://other.example/".into()]);
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let other = harness_with(
        Engine::new(
            Arc::new(MemoryStore::new()),
            config,
            Keyring::new(&[(1, [42u8; 32])]).unwrap(),
        )
        .with_clock(clock.clone()),
        clock,
    )
    .await;
    let (at, _) = other.tokens("profile:read").await;
    assert!(at.starts_with("lk_at_"));
    assert!(check(&other, &at, Audience::Resource(API)).await.is_ok());
    // With JWTs off, no JWKS is advertised or routed.
    let plain = harness().await;
    assert!(plain.engine.metadata().get("jwks_uri").is_none());
    assert_eq!(
        h.engine.metadata()["jwks_uri"],
        "https://auth.example/oauth/jwks"
    );
}

#[tokio::test]
async fn jwks_publishes_public_keys_only_with_a_cache_lifetime() {
    for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let (h, store) = jwt_harness_and_store(alg).await;
        let _ = h.tokens("profile:read").await;
        let r = h.engine.jwks_response().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("public, max-age=600"));
        assert_eq!(r.header("content-type"), Some("application/jwk-set+json"));
        let doc = r.json_body();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let mut fields: Vec<&str> = keys[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let want: &[&str] = match alg {
            SigningAlgorithm::EdDsa => &["alg", "crv", "kid", "kty", "use", "x"],
            _ => &["alg", "crv", "kid", "kty", "use", "x", "y"],
        };
        assert_eq!(fields, want, "no `d` or any other private member");
        // What storage holds is sealed: neither the JWKS nor the record's
        // Debug shows the sealed bytes.
        let stored = store.list_signing_keys().await.unwrap();
        let sealed = URL_SAFE_NO_PAD.encode(&stored[0].sealed_private);
        assert!(!String::from_utf8_lossy(&r.body).contains(&sealed));
        assert!(!format!("{stored:?}").contains("sealed_private"));
    }
}

/// The state of every stored key, by kid.
async fn states(store: &MemoryStore) -> std::collections::BTreeMap<String, SigningKeyState> {
    let keys = store.list_signing_keys().await.unwrap();
    keys.into_iter().map(|k| (k.kid, k.state)).collect()
}

/// A JWT of `h` with its header replaced, keeping the signature.
fn with_header(token: &str, header: serde_json::Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[tokio::test]
async fn the_bearer_check_refuses_every_bad_jwt() {
    let h = jwt_harness(SigningAlgorithm::EdDsa).await;
    let (at, _) = h.tokens("profile:read").await;
    let kid = part(&at, 0)["kid"].as_str().unwrap().to_owned();
    let (input, _) = at.rsplit_once('.').unwrap();
    let (head, body) = input.split_once('.').unwrap();

    let wrong_alg = with_header(
        &at,
        serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
    );
    let none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD
            .encode(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string())
    );
    let wrong_typ = with_header(
        &at,
        serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
    );
    // Signed by another Ed25519 key under the published kid.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let other = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let wrong_key = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(other.sign(input.as_bytes()))
    );
    let mut claims = part(&at, 1);
    claims["scope"] = "dns:edit".into();
    let tampered = format!(
        "{head}.{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        at.rsplit_once('.').unwrap().1
    );
    for (what, t) in [
        ("wrong alg", wrong_alg),
        ("alg none", none),
        ("wrong typ", wrong_typ),
        ("wrong key", wrong_key),
        ("tampered payload", tampered),
    ] {
        assert!(
            matches!(
                check(&h, &t, Audience::Resource(API)).await,
                Err(BearerError::InvalidToken)
            ),
            "{what}"
        );
        assert_eq!(h.introspect(&t).await["active"], false, "{what}");
    }
    assert!(matches!(
        check(&h, &at, Audience::Resource("https://other.example/")).await,
        Err(BearerError::InvalidToken)
    ));
    assert!(check(&h, &at, Audience::AnyResource).await.is_ok());
    // Not yet valid: the clock stands before `nbf` by more than the leeway.
    h.clock.set(Timestamp(1_800_000_000 - 31));
    assert!(matches!(
        check(&h, &at, Audience::Resource(API)).await,
        Err(BearerError::InvalidToken)
    ));
    h.clock.set(Timestamp(1_800_000_000 - 30));
    assert!(check(&h, &at, Audience::Resource(API)).await.is_ok());
    // Expired: past `exp` and the leeway.
    h.clock.set(Timestamp(1_800_000_900 + 29));
    assert!(check(&h, &at, Audience::Resource(API)).await.is_ok());
    h.clock.set(Timestamp(1_800_000_900 + 30));
    assert!(matches!(
        check(&h, &at, Audience::Resource(API)).await,
        Err(BearerError::InvalidToken)
    ));
    assert_eq!(h.introspect(&at).await["active"], false);
}

#[tokio::test]
async fn revocation_shows_in_introspection_but_not_in_local_checks() {
    let h = jwt_harness(SigningAlgorithm::EdDsa).await;
    let auth = h.app_auth();
    let (at, rt) = h.tokens("profile:read").await;
    let revoke =
        |t: &str| HttpRequest::form_post(&[("token", t)]).with_header("Authorization", &auth);
    assert_eq!(h.engine.revoke(&revoke(&at)).await.status, 200);
    assert_eq!(h.introspect(&at).await["active"], false);
    // Local verification trusts the JWT until it expires (documented).
    assert!(check(&h, &at, Audience::Resource(API)).await.is_ok());
    // Revoking the family (through its refresh token) reaches its JWTs.
    let (at2, rt2) = h.tokens("profile:read").await;
    assert_ne!(rt, rt2);
    assert_eq!(h.introspect(&at2).await["active"], true);
    assert_eq!(h.engine.revoke(&revoke(&rt2)).await.status, 200);
    assert_eq!(h.introspect(&at2).await["active"], false);
    // Another client's JWT is not the app's to revoke; forged ones are
    // unknown tokens (200) and change nothing.
    let (at3, _) = h.tokens("profile:read").await;
    let cli = HttpRequest::form_post(&[
        ("token", at3.as_str()),
        ("client_id", h.cli.client.id.as_str()),
    ]);
    assert_eq!(
        error_code(&h.engine.revoke(&cli).await),
        "unauthorized_client"
    );
    let forged = with_header(&at3, serde_json::json!({"alg": "none", "typ": "at+jwt"}));
    assert_eq!(h.engine.revoke(&revoke(&forged)).await.status, 200);
    assert_eq!(h.introspect(&at3).await["active"], true);
}

#[tokio::test]
async fn rotation_publishes_first_promotes_later_and_retires_after_the_last_token() {
    let (h, store) = jwt_harness_and_store(SigningAlgorithm::EdDsa).await;
    // As a set: keys made in the same second are listed by kid.
    let kids = |doc: serde_json::Value| -> std::collections::BTreeSet<String> {
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let set = |k: &[&String]| {
        k.iter()
            .map(|s| (*s).clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let t0 = Timestamp(1_800_000_000);
    // The first token request makes the first key, active at once.
    let (old_token, _) = h.tokens("profile:read").await;
    let a = part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    assert_eq!(kids(h.engine.jwks().await.unwrap()), set(&[&a]));

    // Step 1: publish B; A still signs.
    let r = h.engine.rotate_signing_key(t0).await.unwrap();
    let b = r.published.clone().unwrap();
    assert_eq!(kids(h.engine.jwks().await.unwrap()), set(&[&a, &b]));
    let (t, _) = h.tokens("profile:read").await;
    assert_eq!(part(&t, 0)["kid"], a.as_str());

    // Too early to promote: the JWKS cache lifetime (600) plus the key
    // refresh (60) must pass first.
    h.clock.set(t0.plus(659));
    let r = h.engine.rotate_signing_key(t0.plus(659)).await.unwrap();
    assert_eq!((r.activated, r.waiting_until), (None, Some(t0.plus(660))));
    let (t, _) = h.tokens("profile:read").await;
    assert_eq!(part(&t, 0)["kid"], a.as_str());

    // Step 2: B signs; A is retiring but published.
    h.clock.set(t0.plus(660));
    let (last_by_a, _) = h.tokens("profile:read").await;
    let r = h.engine.rotate_signing_key(t0.plus(660)).await.unwrap();
    assert_eq!(r.activated.as_deref(), Some(b.as_str()));
    let (t, _) = h.tokens("profile:read").await;
    assert_eq!(part(&t, 0)["kid"], b.as_str());
    assert!(check(&h, &last_by_a, Audience::Resource(API)).await.is_ok());
    let states = states(&store).await;
    assert_eq!(states[&a], SigningKeyState::Retiring);
    assert_eq!(states[&b], SigningKeyState::Active);

    // A stays published for max lifetime + refresh + leeway (990 s).
    h.clock.set(t0.plus(660 + 989));
    // (This call starts the next rotation: C is published.)
    let r = h
        .engine
        .rotate_signing_key(t0.plus(660 + 989))
        .await
        .unwrap();
    assert!(r.retired.is_empty());
    let c = r.published.unwrap();
    assert!(kids(h.engine.jwks().await.unwrap()).contains(&a));
    h.clock.set(t0.plus(660 + 990));
    let r = h
        .engine
        .rotate_signing_key(t0.plus(660 + 990))
        .await
        .unwrap();
    assert_eq!(r.retired, std::slice::from_ref(&a));
    assert_eq!(r.waiting_until, Some(t0.plus(660 + 989 + 660)));
    assert_eq!(kids(h.engine.jwks().await.unwrap()), set(&[&b, &c]));
    // A rotated-out key verifies nothing, and its private half is gone.
    assert!(matches!(
        check(&h, &last_by_a, Audience::Resource(API)).await,
        Err(BearerError::InvalidToken)
    ));
    let keys = store.list_signing_keys().await.unwrap();
    let retired = keys.iter().find(|k| k.kid == a).unwrap();
    assert_eq!(
        (retired.state, retired.sealed_private.is_empty()),
        (SigningKeyState::Retired, true)
    );
}

#[tokio::test]
async fn instances_on_one_store_sign_and_publish_the_same_keys() {
    let store = Arc::new(MemoryStore::new());
    let h = harness_with_jwt_on(store.clone(), SigningAlgorithm::Es256).await;
    let other = jwt_engine(store, SigningAlgorithm::Es256, h.clock.clone());
    let (at, _) = h.tokens("profile:read").await;
    let req = bearer(&at);
    assert!(other
        .verify_bearer(&req, Audience::Resource(API), &["profile:read"])
        .await
        .is_ok());
    assert_eq!(other.jwks().await.unwrap(), h.engine.jwks().await.unwrap());
    // Another instance with another server key cannot open the keys.
    let stranger = Engine::new(
        Arc::new(MemoryStore::new()),
        jwt_config(SigningAlgorithm::Es256),
        Keyring::new(&[(1, [1u8; 32])]).unwrap(),
    );
    assert!(stranger
        .verify_bearer(&req, Audience::Resource(API), &[])
        .await
        .is_err());
}

#[tokio::test]
async fn storage_failures_are_unavailable_or_server_errors_and_write_nothing() {
    let store = Arc::new(Faulty::default());
    let h = harness_with_jwt_on(store.clone(), SigningAlgorithm::EdDsa).await;
    let code = h.code_for("profile:read", false).await;
    store.set(1);
    let r = h.exchange(&code).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (503, "temporarily_unavailable")
    );
    assert_eq!(h.engine.jwks_response().await.status, 503);
    assert!(h
        .engine
        .rotate_signing_key(Timestamp(1_800_000_000))
        .await
        .is_err());
    store.set(2);
    let r = h.exchange(&code).await;
    assert_eq!((r.status, error_code(&r).as_str()), (500, "server_error"));
    store.set(0);
    assert!(store.inner.list_signing_keys().await.unwrap().is_empty());
    let r = h.exchange(&code).await;
    assert_eq!(r.status, 200, "the code was not used up by the failures");
    let at = r.json_body()["access_token"].as_str().unwrap().to_owned();
    // Keys cached: a store outage does not stop local checks until the
    // next refresh, then it is a 503, never a pass.
    store.set(1);
    assert!(check(&h, &at, Audience::Resource(API)).await.is_ok());
    h.clock.advance(61);
    assert!(matches!(
        check(&h, &at, Audience::Resource(API)).await,
        Err(BearerError::Unavailable(_))
    ));
}

#[tokio::test]
async fn no_token_or_private_key_reaches_debug_output() {
    let (h, store) = jwt_harness_and_store(SigningAlgorithm::Es256).await;
    let code = h.code_for("profile:read", false).await;
    let r = h.exchange(&code).await;
    let at = r.json_body()["access_token"].as_str().unwrap().to_owned();
    let response: latchkey::grant::TokenResponse = serde_json::from_slice(&r.body).unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    let info = check(&h, &at, Audience::Resource(API)).await.unwrap();
    let dump = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        h.engine, response, keys, info, r.headers
    );
    for (i, p) in at.split('.').enumerate() {
        assert!(!dump.contains(p), "token part {i} in {dump}");
    }
    let sealed = format!("{:?}", keys[0].sealed_private);
    assert!(!dump.contains(&sealed[1..sealed.len() - 1]));
    assert!(!dump.contains("sealed"));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_maintenance_task_rotates_on_its_schedule() {
    use latchkey::maintenance::{Maintenance, MaintenanceConfig};
    let (h, store) = jwt_harness_and_store(SigningAlgorithm::EdDsa).await;
    let mut config = MaintenanceConfig::default();
    config.signing_key_rotation = Some(std::time::Duration::from_millis(10));
    let handle = Maintenance::new(h.engine.clone(), config)
        .without_purge()
        .spawn();
    // Bootstrap, then publish: two steps while the manual clock stands.
    for _ in 0..500 {
        if handle.report().key_rotation_steps >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let report = handle.shutdown().await;
    assert_eq!(report.key_rotation_steps, 2, "{report:?}");
    let mut states: Vec<_> = states(&store)
        .await
        .into_values()
        .map(|s| s.as_str())
        .collect();
    states.sort_unstable();
    assert_eq!(states, ["active", "pending"]);
}

#[tokio::test]
async fn with_jwts_off_a_jwt_is_an_unknown_token_and_storage_is_not_asked() {
    // A store whose signing-key calls all fail: they must not be made.
    let store = Arc::new(Faulty::default());
    let h = harness_on(store.clone()).await;
    let (opaque, _) = h.tokens("profile:read").await;
    let jwt_store = Arc::new(MemoryStore::new());
    let other = harness_with_jwt_on(jwt_store, SigningAlgorithm::EdDsa).await;
    let (jwt, _) = other.tokens("profile:read").await;
    store.set(2);
    let r = h
        .engine
        .verify_bearer(&bearer(&jwt), Audience::AnyResource, &[])
        .await;
    assert!(matches!(r, Err(BearerError::InvalidToken)), "{r:?}");
    store.set(0);
    assert_eq!(h.introspect(&jwt).await["active"], false);
    assert!(check(&h, &opaque, Audience::Resource(API)).await.is_ok());
}

#[tokio::test]
async fn a_client_overrides_the_per_resource_choice_both_ways() {
    use latchkey::clients::ClientUpdate;
    use latchkey::jwt::AccessTokenFormat;
    let op = operator();
    let format = |f| ClientUpdate {
        access_token_format: Some(f),
        ..ClientUpdate::default()
    };
    // JWTs only for another resource: this app's tokens are opaque until
    // the app asks for JWTs.
    let mut config = jwt_config(SigningAlgorithm::EdDsa);
    config.jwt.as_mut().unwrap().resources =
        JwtResources::Only(vec!["https://other.example/".into()]);
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let h = harness_with(
        Engine::new(
            Arc::new(MemoryStore::new()),
            config,
            Keyring::new(&[(1, [42u8; 32])]).unwrap(),
        )
        .with_clock(clock.clone()),
        clock,
    )
    .await;
    assert!(h.tokens("profile:read").await.0.starts_with("lk_at_"));
    let id = h.app.client.id.clone();
    let c = h
        .engine
        .update_client(&op, &id, format(Some(AccessTokenFormat::Jwt)))
        .await
        .unwrap();
    assert_eq!(c.access_token_format, Some(AccessTokenFormat::Jwt));
    let (at, _) = h.tokens("profile:read").await;
    assert_eq!(part(&at, 0)["typ"], "at+jwt");
    assert_eq!(part(&at, 1)["aud"], API);
    assert!(check(&h, &at, Audience::Resource(API)).await.is_ok());
    // Back to the per-resource choice.
    h.engine
        .update_client(&op, &id, format(None))
        .await
        .unwrap();
    assert!(h.tokens("profile:read").await.0.starts_with("lk_at_"));

    // JWTs for every resource, but this app keeps opaque tokens.
    let all = jwt_harness(SigningAlgorithm::EdDsa).await;
    let id = all.app.client.id.clone();
    all.engine
        .update_client(&op, &id, format(Some(AccessTokenFormat::Opaque)))
        .await
        .unwrap();
    let (at, rt) = all.tokens("profile:read").await;
    assert!(at.starts_with("lk_at_"), "{at}");
    let refreshed = all.refresh(&rt, &[]).await.json_body();
    assert!(refreshed["access_token"]
        .as_str()
        .unwrap()
        .starts_with("lk_at_"));
    assert_eq!(all.introspect(&at).await["active"], true);

    // Without JWTs on the engine, asking for them is refused and changes
    // nothing.
    let plain = harness().await;
    let id = plain.app.client.id.clone();
    let before = plain.engine.get_client(&id).await.unwrap();
    let err = plain
        .engine
        .update_client(&op, &id, format(Some(AccessTokenFormat::Jwt)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not enabled"), "{err}");
    assert_eq!(plain.engine.get_client(&id).await.unwrap(), before);
}
