//! Shared fixtures of Latchkey's benchmarks: an engine on any backend with
//! one confidential client, the whole operations the benchmarks time
//! (code flow, refresh, introspection, client_credentials, revocation,
//! bearer validation), the backends opened the way a deployment opens
//! them, and the physical floors (fsync, redb commit, PostgreSQL round
//! trip) every figure is compared with.
//!
//! Every operation goes through the engine's public endpoints with real
//! form bodies and `Authorization` headers, the system clock and the
//! system CSPRNG: what an HTTP adapter calls, minus the socket.
#![forbid(unsafe_code)]

pub mod backends;
pub mod floors;
pub mod http1;
pub mod peer;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use latchkey::clients::ClientRegistration;
use latchkey::http::{encode_component, HttpRequest, Params};
use latchkey::introspect::Audience;
use latchkey::model::GrantType;
use latchkey::storage::Storage;
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, Principal, ScopeRegistry,
};

/// The client's registered redirect URI.
pub const REDIRECT: &str = "https://app.example/cb";
/// The resource (RFC 8707) tokens are issued for.
pub const API: &str = "https://api.example/";
/// The scopes every flow asks for.
pub const SCOPE: &str = "profile:read dns:read";
/// A fixed PKCE pair (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// `S256(VERIFIER)`.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A benchmark's failure: what did not answer as expected.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The tokens of one completed code flow.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

/// An engine on `S` with one confidential client (`client_secret_basic`,
/// every grant the benchmarks use) and a signed-in user.
pub struct Fixture<S: Storage + ?Sized> {
    /// The engine.
    pub engine: Engine<S>,
    /// The client's id.
    pub client_id: String,
    /// `Basic …` for the client.
    pub basic: String,
    /// A signed-in user who is asked for consent every time.
    pub user: Principal,
    /// A signed-in user whose consent is remembered.
    pub returning: Principal,
    /// The authorization request's query string.
    auth_query: String,
}

/// The scopes the fixtures register.
#[must_use]
pub fn scopes() -> ScopeRegistry {
    ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .and_then(|r| r.register("dns:read", "Read DNS records", &[]))
        .expect("static scope registry")
}

/// A fixed server key, so the peer bench's tokens are comparable runs apart.
#[must_use]
pub fn keyring() -> Keyring {
    Keyring::new(&[(1, [42u8; 32])]).expect("one key")
}

impl<S: Storage + ?Sized> Fixture<S> {
    /// Builds the engine on `store` and registers the client.
    ///
    /// # Errors
    /// When the store refuses the registration.
    pub async fn new(store: Arc<S>) -> Result<Self, BenchError> {
        let engine = Engine::new(
            store,
            EngineConfig::new("https://auth.example", scopes()),
            keyring(),
        );
        let app = engine
            .register_client(
                &latchkey::Acting::operator("bench", latchkey::Source::default()),
                ClientRegistration {
                    owner: "acme".into(),
                    name: "Bench app".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    grant_types: vec![
                        GrantType::AuthorizationCode,
                        GrantType::RefreshToken,
                        GrantType::ClientCredentials,
                    ],
                    scopes: vec!["profile:read".into(), "dns:read".into()],
                    resources: vec![API.into()],
                    ..Default::default()
                },
            )
            .await?;
        let secret = app.secret.ok_or("a confidential client has a secret")?;
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", app.client.id, secret.expose()))
        );
        Ok(Fixture {
            engine,
            auth_query: latchkey::http::encode_form(&[
                ("response_type", "code"),
                ("client_id", &app.client.id),
                ("redirect_uri", REDIRECT),
                ("scope", SCOPE),
                ("state", "xyz"),
                ("resource", API),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
            client_id: app.client.id,
            basic,
            user: Principal {
                subject: "alice".into(),
                account: "acme".into(),
            },
            returning: Principal {
                subject: "bob".into(),
                account: "acme".into(),
            },
        })
    }

    /// The authorization request (RFC 6749 §4.1.1) with PKCE S256.
    #[must_use]
    pub fn authorization_request(&self) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            query: self.auth_query.clone(),
            ..HttpRequest::default()
        }
    }

    /// A form `POST` of `body` (already encoded) with the client's
    /// credentials, as an adapter hands it over.
    #[must_use]
    pub fn form(&self, body: String) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("authorization".into(), self.basic.clone()),
            ],
            body: body.into_bytes(),
            ..HttpRequest::default()
        }
    }

    /// A whole code flow for a signed-in user who must consent: the
    /// authorization request shows the consent prompt, the user approves,
    /// the client exchanges the code with its verifier.
    ///
    /// # Errors
    /// When a step does not answer as a successful flow does.
    pub async fn code_flow(&self) -> Result<Tokens, BenchError> {
        let location = self.consented().await?;
        self.exchange(&location).await
    }

    /// [`Fixture::code_flow`], also returning how long the code exchange
    /// alone took (microseconds).
    ///
    /// # Errors
    /// When a step does not answer as a successful flow does.
    pub async fn timed_code_flow(&self) -> Result<(Tokens, f64), BenchError> {
        let location = self.consented().await?;
        let t = std::time::Instant::now();
        let tokens = self.exchange(&location).await?;
        Ok((tokens, t.elapsed().as_secs_f64() * 1e6))
    }

    /// Authorization request and consent: the redirect with the code.
    async fn consented(&self) -> Result<String, BenchError> {
        let binding = "browser-session";
        let prompt = match self
            .engine
            .authorize(&self.authorization_request(), Some(&self.user), binding)
            .await
        {
            AuthorizeOutcome::ConsentRequired(p) => p,
            other => return Err(format!("expected a consent prompt, got {other:?}").into()),
        };
        match self
            .engine
            .accept(
                prompt.challenge.expose(),
                binding,
                &self.user,
                ConsentDecision {
                    scopes: None,
                    remember: false,
                },
                &latchkey::Source::default(),
            )
            .await
        {
            AuthorizeOutcome::Redirect(l) => Ok(l),
            other => Err(format!("expected a redirect, got {other:?}").into()),
        }
    }

    /// The code flow of a returning user whose consent is remembered: the
    /// authorization request answers with the code at once, then the
    /// exchange. Needs one [`Fixture::remember_consent`] first.
    ///
    /// # Errors
    /// When a step does not answer as a successful flow does.
    pub async fn remembered_code_flow(&self) -> Result<Tokens, BenchError> {
        let location = match self
            .engine
            .authorize(&self.authorization_request(), Some(&self.returning), "b")
            .await
        {
            AuthorizeOutcome::Redirect(l) => l,
            other => return Err(format!("expected a redirect, got {other:?}").into()),
        };
        self.exchange(&location).await
    }

    /// Approves once with `remember`, so later requests skip the prompt.
    ///
    /// # Errors
    /// When the approval fails.
    pub async fn remember_consent(&self) -> Result<(), BenchError> {
        let AuthorizeOutcome::ConsentRequired(p) = self
            .engine
            .authorize(&self.authorization_request(), Some(&self.returning), "b")
            .await
        else {
            return Err("expected a consent prompt".into());
        };
        let d = ConsentDecision {
            scopes: None,
            remember: true,
        };
        match self
            .engine
            .accept(
                p.challenge.expose(),
                "b",
                &self.returning,
                d,
                &latchkey::Source::default(),
            )
            .await
        {
            AuthorizeOutcome::Redirect(_) => Ok(()),
            other => Err(format!("expected a redirect, got {other:?}").into()),
        }
    }

    async fn exchange(&self, location: &str) -> Result<Tokens, BenchError> {
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let code = Params::parse(query)?
            .single("code")?
            .ok_or("no code in the redirect")?
            .to_owned();
        let req = self.form(format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
            encode_component(&code),
            encode_component(REDIRECT),
        ));
        let body = ok_json(self.engine.token(&req).await)?;
        Ok(Tokens {
            access: string(&body, "access_token")?,
            refresh: string(&body, "refresh_token")?,
        })
    }

    /// One refresh rotation; returns the new pair.
    ///
    /// # Errors
    /// When the token endpoint refuses.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, BenchError> {
        let req = self.form(format!(
            "grant_type=refresh_token&refresh_token={}",
            encode_component(refresh_token)
        ));
        let body = ok_json(self.engine.token(&req).await)?;
        Ok(Tokens {
            access: string(&body, "access_token")?,
            refresh: string(&body, "refresh_token")?,
        })
    }

    /// One introspection (RFC 7662) by the client of its own token.
    ///
    /// # Errors
    /// When the token is not reported active.
    pub async fn introspect(&self, token: &str) -> Result<(), BenchError> {
        let req = self.form(format!("token={}", encode_component(token)));
        let body = ok_json(self.engine.introspect(&req).await)?;
        if body["active"] != true {
            return Err("introspection says inactive".into());
        }
        Ok(())
    }

    /// One bearer check (RFC 6750) of a resource server in the process.
    ///
    /// # Errors
    /// When the token is refused.
    pub async fn verify_bearer(&self, token: &str) -> Result<(), BenchError> {
        let req = HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {token}"));
        self.engine
            .verify_bearer(&req, Audience::Resource(API), &["profile:read"])
            .await
            .map_err(|e| format!("bearer refused: {e:?}"))?;
        Ok(())
    }

    /// One `client_credentials` grant; returns the access token.
    ///
    /// # Errors
    /// When the token endpoint refuses.
    pub async fn client_credentials(&self) -> Result<String, BenchError> {
        let req = self.form(format!(
            "grant_type=client_credentials&scope=dns%3Aread&resource={}",
            encode_component(API)
        ));
        string(&ok_json(self.engine.token(&req).await)?, "access_token")
    }

    /// One revocation (RFC 7009) of a refresh token: its whole family.
    ///
    /// # Errors
    /// When the endpoint does not answer 200.
    pub async fn revoke(&self, token: &str) -> Result<(), BenchError> {
        let req = self.form(format!(
            "token={}&token_type_hint=refresh_token",
            encode_component(token)
        ));
        let r = self.engine.revoke(&req).await;
        if r.status != 200 {
            return Err(format!("revocation answered {}", r.status).into());
        }
        Ok(())
    }
}

fn ok_json(r: latchkey::http::HttpResponse) -> Result<serde_json::Value, BenchError> {
    if r.status != 200 {
        return Err(format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body)).into());
    }
    Ok(serde_json::from_slice(&r.body)?)
}

fn string(v: &serde_json::Value, name: &str) -> Result<String, BenchError> {
    Ok(v[name]
        .as_str()
        .ok_or_else(|| format!("no {name} in the response"))?
        .to_owned())
}

/// Whether this is a CI run (`CI=true`): an unreachable database fails
/// instead of being skipped.
#[must_use]
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the run is a smoke run: every benchmark once, tiny counts.
/// So it is with `--test` (`cargo bench -- --test`) or with
/// `LATCHKEY_BENCH_SMOKE=1` (`benches/smoke.sh` sets it: under
/// `cargo test`, criterion runs each benchmark once by itself, and this
/// tells the hand-written ones to do the same).
#[must_use]
pub fn smoke() -> bool {
    std::env::args().any(|a| a == "--test")
        || std::env::var("LATCHKEY_BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// The median of `xs` (sorted in place); 0 for none.
#[must_use]
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}
