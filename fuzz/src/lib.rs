//! What the fuzz targets share: an engine like the test suites' harness
//! (memory store, manual clock, seeded randomness, two clients), a way to
//! run its async endpoints inside one input, and the checks every HTTP
//! answer must pass whatever the input was.

pub mod model;

use std::future::Future;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use latchkey::clients::{ClientRegistration, RegisteredClient};
use latchkey::clock::{ManualClock, Timestamp};
use latchkey::entropy::SeededEntropy;
use latchkey::http::{HttpResponse, Params};
use latchkey::model::{AuthMethod, GrantType};
use latchkey::storage::Storage;
use latchkey::{AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, MemoryStore};
use latchkey::{Principal, ScopeRegistry};

/// PKCE pair of RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// `S256` of [`VERIFIER`].
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The confidential app's first redirect URI.
pub const REDIRECT: &str = "https://app.example/cb";
/// The protected API (resource indicator).
pub const API: &str = "https://api.example/";
/// The user-agent binding every flow uses.
pub const BINDING: &str = "session-123";
/// The issuer.
pub const ISSUER: &str = "https://auth.example";
/// Where the clock starts.
pub const START: u64 = 1_800_000_000;

/// Runs `f` to completion on a current-thread runtime (one per thread,
/// reused: building one per input would dominate the run time).
pub fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

/// The test suites' scopes.
pub fn scopes() -> ScopeRegistry {
    ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .unwrap()
        .register("dns:read", "Read DNS records", &[])
        .unwrap()
        .register("dns:edit", "Edit DNS records", &["dns:read"])
        .unwrap()
        .register("zones:read", "List your zones", &[])
        .unwrap()
}

/// An engine on `store` configured by `config`, on a manual clock.
pub fn engine_with<S: Storage + ?Sized>(
    store: Arc<S>,
    config: EngineConfig,
) -> (Engine<S>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(START)));
    let engine = Engine::new(store, config, Keyring::new(&[(1, [42u8; 32])]).unwrap())
        .with_clock(clock.clone())
        .with_entropy(Arc::new(SeededEntropy::new(7)));
    (engine, clock)
}

/// An engine with the test suites' clients.
pub struct Harness<S: Storage + ?Sized = MemoryStore> {
    /// The engine.
    pub engine: Engine<S>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Confidential, `client_secret_basic`, redirect [`REDIRECT`], resource [`API`].
    pub app: RegisteredClient,
    /// Public, loopback redirect `http://127.0.0.1/callback`.
    pub cli: RegisteredClient,
}

/// The harness on a fresh memory store with the default configuration.
pub async fn harness() -> Harness {
    harness_configured(EngineConfig::new(ISSUER, scopes())).await
}

/// The harness on a fresh memory store with `config`.
pub async fn harness_configured(config: EngineConfig) -> Harness {
    let (engine, clock) = engine_with(Arc::new(MemoryStore::new()), config);
    harness_with(engine, clock).await
}

/// Registers the harness's clients on `engine`.
pub async fn harness_with<S: Storage + ?Sized>(
    engine: Engine<S>,
    clock: Arc<ManualClock>,
) -> Harness<S> {
    let app = engine
        .register_client(
            &latchkey::Acting::operator("fuzz", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Acme Dashboard".into(),
                redirect_uris: vec![REDIRECT.into(), "https://app.example/other".into()],
                grant_types: vec![
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ],
                scopes: vec!["profile:read".into(), "dns:read".into(), "dns:edit".into()],
                resources: vec![API.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cli = engine
        .register_client(
            &latchkey::Acting::operator("fuzz", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Acme CLI".into(),
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                scopes: vec!["profile:read".into(), "zones:read".into()],
                auth_method: Some(AuthMethod::None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Harness {
        engine,
        clock,
        app,
        cli,
    }
}

/// The user of every flow.
pub fn alice() -> Principal {
    Principal {
        subject: "alice".into(),
        account: "acme".into(),
    }
}

/// An `Authorization: Basic` value (RFC 6749 §2.3.1: each part
/// form-encoded first).
pub fn basic(id: &str, secret: &str) -> String {
    use latchkey::http::encode_component as enc;
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

impl<S: Storage + ?Sized> Harness<S> {
    /// The app's Basic credentials.
    pub fn app_auth(&self) -> String {
        basic(
            &self.app.client.id,
            self.app.secret.as_ref().unwrap().expose(),
        )
    }

    /// A code for the app through authorize → consent → accept.
    pub async fn code(&self) -> String {
        let req = latchkey::http::HttpRequest::get(&[
            ("response_type", "code"),
            ("client_id", &self.app.client.id),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
            ("redirect_uri", REDIRECT),
            ("scope", "profile:read dns:read"),
            ("resource", API),
        ]);
        let location = match self.engine.authorize(&req, Some(&alice()), BINDING).await {
            AuthorizeOutcome::ConsentRequired(p) => {
                let decision = ConsentDecision {
                    scopes: None,
                    remember: false,
                };
                match self
                    .engine
                    .accept(
                        p.challenge.expose(),
                        BINDING,
                        &alice(),
                        decision,
                        &latchkey::Source::default(),
                    )
                    .await
                {
                    AuthorizeOutcome::Redirect(l) => l,
                    other => panic!("accept gave {other:?}"),
                }
            }
            AuthorizeOutcome::Redirect(l) => l,
            other => panic!("authorize gave {other:?}"),
        };
        query_param(&location, "code").expect("a code in the redirect")
    }

    /// Access and refresh token for the app.
    pub async fn tokens(&self) -> (String, String) {
        let code = self.code().await;
        let req = latchkey::http::HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .with_header("Authorization", &self.app_auth());
        let r = self.engine.token(&req).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        (
            j["access_token"].as_str().unwrap().to_owned(),
            j["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

/// The decoded value of `name` in a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let p = Params::parse(q).ok()?;
    p.single(name).ok().flatten().map(str::to_owned)
}

/// Whether `s` may stand in `error_description` (RFC 6749 §5.2:
/// `%x20-21 / %x23-5B / %x5D-7E`).
pub fn is_error_text(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Checks a JSON endpoint's answer: a status of the expected family, a
/// JSON object body (`empty_ok`: an empty 200 body, as RFC 7009 §2.2
/// allows), an RFC 6749 §5.2 error object on every 4xx/5xx, and the
/// headers that go with 401 and 405. Panics (a finding) otherwise.
///
/// Returns the parsed body (`Null` for an empty one).
pub fn check_json_answer(r: &HttpResponse, empty_ok: bool) -> serde_json::Value {
    assert!(
        matches!(r.status, 200 | 201 | 400 | 401 | 403 | 405 | 413 | 429),
        "unexpected status {} with a store that never fails: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.status == 200 && empty_ok && r.body.is_empty() {
        return serde_json::Value::Null;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "status {} body is not JSON ({e}): {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    });
    assert!(v.is_object(), "body is not a JSON object: {v}");
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "a JSON answer must not be cached (RFC 6749 §5.1)"
    );
    if r.status >= 400 {
        let code = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("error answer without `error`: {v}"));
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "bad error code {code:?}"
        );
        if let Some(d) = v.get("error_description") {
            let d = d.as_str().expect("error_description is a string");
            assert!(
                is_error_text(d),
                "error_description has forbidden characters: {d:?}"
            );
        }
    }
    match r.status {
        401 => assert!(
            r.header("www-authenticate").is_some(),
            "401 without WWW-Authenticate (RFC 9110 §15.5.2)"
        ),
        405 => assert!(r.header("allow").is_some(), "405 without Allow"),
        _ => {}
    }
    v
}

/// Every secret the harness handed out must stay out of `text` unless it
/// is where it belongs: error answers never echo a credential.
pub fn assert_no_echo(text: &[u8], secrets: &[&str]) {
    let text = String::from_utf8_lossy(text);
    for s in secrets {
        assert!(
            !s.is_empty() && !text.contains(s),
            "an error answer echoes a credential"
        );
    }
}

/// Replaces the placeholders a corpus can carry with what only exists at
/// run time: `@app` and `@cli` (the clients' ids), `@secret` (the app's
/// secret). Ids are deterministic today, but seeds that name them by
/// placeholder keep working when the id format changes.
pub fn fill<S: Storage + ?Sized>(h: &Harness<S>, text: &str) -> String {
    text.replace("@app", &h.app.client.id)
        .replace("@cli", &h.cli.client.id)
        .replace("@secret", h.app.secret.as_ref().unwrap().expose())
}

/// A reference `application/x-www-form-urlencoded` parser, written apart
/// from `latchkey::http::Params` to check it: `&`-separated pairs, `=`
/// splitting name from value, `+` a space, `%XX` a byte, UTF-8 required,
/// empty values dropped (RFC 6749 §3.1). `None` where the text is
/// malformed; limits are not modelled.
pub fn reference_form(text: &str) -> Option<Vec<(String, String)>> {
    fn dec(s: &str) -> Option<String> {
        let mut out = vec![];
        let mut it = s.bytes();
        while let Some(b) = it.next() {
            out.push(match b {
                b'+' => b' ',
                b'%' => {
                    let h = (it.next()? as char).to_digit(16)?;
                    let l = (it.next()? as char).to_digit(16)?;
                    (h * 16 + l) as u8
                }
                b => b,
            });
        }
        String::from_utf8(out).ok()
    }
    let mut pairs = vec![];
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (dec(k)?, dec(v)?);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    Some(pairs)
}

/// Checks `Params::parse` against [`reference_form`] and that what it
/// parsed survives `encode_form` and a second parse unchanged.
pub fn check_form(text: &str) -> Option<Params> {
    let parsed = Params::parse(text);
    let reference = reference_form(text);
    match (&parsed, &reference) {
        (Ok(p), Some(pairs)) => {
            for (k, _) in pairs {
                let want: Vec<&str> = pairs
                    .iter()
                    .filter(|(n, _)| n == k)
                    .map(|(_, v)| v.as_str())
                    .collect();
                assert_eq!(p.all(k), want.as_slice(), "values of {k:?}");
            }
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let again =
                Params::parse(&latchkey::http::encode_form(&refs)).expect("an encoded form parses");
            assert_eq!(&again, p, "form does not round-trip");
        }
        (Ok(_), None) => panic!("malformed form accepted: {text:?}"),
        // Refusals the reference does not model: limits.
        (Err(_), Some(_)) => assert!(
            text.split('&').count() > latchkey::http::MAX_PARAMS
                // Every name and value counts, those of dropped empty
                // values too (found by this target: a 5 KiB name without a
                // value). Well formed, each `%XX` decodes to one byte.
                || text.split('&').any(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    [k, v].iter().any(|c| {
                        c.len() > 3 * latchkey::http::MAX_VALUE_BYTES
                            || c.len() - 2 * c.matches('%').count()
                                > latchkey::http::MAX_VALUE_BYTES
                    })
                }),
            "well-formed form refused: {text:?}"
        ),
        (Err(_), None) => {}
    }
    parsed.ok()
}

/// Splits a fuzz input into a flag byte and `n` text fields separated by
/// newlines (the last field keeps any further newlines). A plain format
/// rather than `Arbitrary`, so seeds are written by hand from real
/// requests and the dictionary's words land where they mean something.
pub fn fields(data: &[u8], n: usize) -> (u8, Vec<String>) {
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let text = String::from_utf8_lossy(rest);
    let mut out: Vec<String> = text.splitn(n, '\n').map(str::to_owned).collect();
    out.resize(n, String::new());
    (flags, out)
}
