//! The peer comparison: oxide-auth and Latchkey (on its memory store)
//! doing the same four operations from the same wire input.
//!
//! What "the same" means here, so the ratios are fair:
//! - both start from the raw query string or form body and the raw
//!   `Authorization` header, and both parse them (oxide-auth's frontends
//!   parse into maps with `form_urlencoded`, as done here);
//! - both authenticate the confidential client with HMAC-SHA256 of its
//!   secret (oxide-auth's default password policy is Argon2, which would
//!   make its side slower by milliseconds; it gets an HMAC policy instead);
//! - the code flow uses PKCE S256 on both, asks the user on a consent step
//!   and then takes the approval (oxide-auth runs its authorization flow
//!   twice, once answering with the consent page and once approving, as its
//!   examples do over HTTP), and both issue a refresh token with the access
//!   token; tokens carry 32 random bytes on both;
//! - both parse the JSON token response to get the tokens back;
//! - oxide-auth's state sits behind one `Mutex`, as a server shares it.
//!
//! What Latchkey does on top (and pays for): keyed hashes of every
//! credential at rest instead of tokens in the clear, a grant record with
//! merged consent and an outbox event for it, a token family with reuse
//! detection and a sealed (AES-GCM) successor per refresh, audience
//! (RFC 8707) and issuer (RFC 9207) checks, and strict request parsing
//! (repeated parameters refused).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use oxide_auth::endpoint::{
    AccessTokenFlow, AuthorizationFlow, OwnerConsent, OwnerSolicitor, RefreshFlow, ResourceFlow,
    Scope, Solicitation,
};
use oxide_auth::frontends::simple::endpoint::{client_credentials_flow, Generic, Vacant};
use oxide_auth::frontends::simple::extensions::{AddonList, Extended, Pkce};
use oxide_auth::frontends::simple::request::{Body, Request, Response, Status};
use oxide_auth::primitives::authorizer::AuthMap;
use oxide_auth::primitives::generator::RandomGenerator;
use oxide_auth::primitives::issuer::TokenMap;
use oxide_auth::primitives::registrar::{
    Client, ClientMap, PasswordPolicy, RegisteredUrl, RegistrarError,
};
use ring::hmac;

use crate::{BenchError, Tokens, API, CHALLENGE, REDIRECT, SCOPE, VERIFIER};

/// The one operation set both sides run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Authorization request, consent, code exchange with PKCE S256.
    CodeFlow,
    /// The same for a user whose consent is remembered (one authorization
    /// pass, no prompt).
    RememberedCodeFlow,
    /// One refresh rotation with the live token.
    Refresh,
    /// One bearer check of an access token by a resource server in process.
    Bearer,
    /// One `client_credentials` grant.
    ClientCredentials,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 5] = [
        Op::CodeFlow,
        Op::RememberedCodeFlow,
        Op::Refresh,
        Op::Bearer,
        Op::ClientCredentials,
    ];

    /// Its name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Op::CodeFlow => "code + PKCE flow (consent)",
            Op::RememberedCodeFlow => "code + PKCE flow (remembered)",
            Op::Refresh => "refresh",
            Op::Bearer => "bearer validation",
            Op::ClientCredentials => "client_credentials",
        }
    }
}

const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret-0123456789abcdefghijklmnop";

/// Client secrets under HMAC-SHA256, as Latchkey stores them.
struct HmacPolicy(hmac::Key);

impl PasswordPolicy for HmacPolicy {
    fn store(&self, client_id: &str, passphrase: &[u8]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(client_id.as_bytes());
        ctx.update(passphrase);
        ctx.sign().as_ref().to_vec()
    }

    fn check(
        &self,
        client_id: &str,
        passphrase: &[u8],
        stored: &[u8],
    ) -> Result<(), RegistrarError> {
        let mut msg = Vec::with_capacity(client_id.len() + passphrase.len());
        msg.extend_from_slice(client_id.as_bytes());
        msg.extend_from_slice(passphrase);
        hmac::verify(&self.0, &msg, stored).map_err(|_| RegistrarError::Unspecified)
    }
}

struct State {
    registrar: ClientMap,
    authorizer: AuthMap<RandomGenerator>,
    issuer: TokenMap<RandomGenerator>,
    pkce: AddonList,
    resource_scopes: Vec<Scope>,
}

/// oxide-auth with its in-memory primitives.
pub struct Oxide {
    state: Mutex<State>,
    basic: String,
    auth_query: String,
}

/// The consent step: the first pass shows the page, the second approves.
struct Consent {
    approve: bool,
}

impl OwnerSolicitor<Request> for Consent {
    fn check_consent(&mut self, _: &mut Request, _: Solicitation) -> OwnerConsent<Response> {
        if self.approve {
            OwnerConsent::Authorized("alice".into())
        } else {
            OwnerConsent::InProgress(Response {
                status: Status::Ok,
                body: Some(Body::Text("consent page".into())),
                ..Response::default()
            })
        }
    }
}

/// Approves a client_credentials request as the client itself.
struct AsClient;

impl OwnerSolicitor<Request> for AsClient {
    fn check_consent(&mut self, _: &mut Request, _: Solicitation) -> OwnerConsent<Response> {
        OwnerConsent::Authorized(CLIENT_ID.into())
    }
}

fn parse(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn request(query: &str, body: &str, auth: Option<&str>) -> Request {
    Request {
        query: parse(query),
        urlbody: parse(body),
        auth: auth.map(str::to_owned),
    }
}

fn tokens_from(r: &Response) -> Result<Tokens, BenchError> {
    let body = match &r.body {
        Some(Body::Json(j)) => j.as_str(),
        _ => return Err(format!("no JSON body ({:?})", r.status).into()),
    };
    let v: serde_json::Value = serde_json::from_str(body)?;
    Ok(Tokens {
        access: v["access_token"]
            .as_str()
            .ok_or_else(|| format!("no access_token in {body}"))?
            .to_owned(),
        refresh: v["refresh_token"].as_str().unwrap_or_default().to_owned(),
    })
}

impl Oxide {
    /// The client registered, nothing issued.
    ///
    /// # Panics
    /// Never: the URLs and scopes are constants.
    #[must_use]
    pub fn new() -> Self {
        let mut registrar = ClientMap::new();
        registrar.set_password_policy(HmacPolicy(hmac::Key::new(hmac::HMAC_SHA256, &[42u8; 32])));
        registrar.register_client(Client::confidential(
            CLIENT_ID,
            RegisteredUrl::Exact(REDIRECT.parse().expect("constant URL")),
            SCOPE.parse().expect("constant scope"),
            CLIENT_SECRET.as_bytes(),
        ));
        let mut pkce = AddonList::new();
        pkce.push_code(Pkce::required());
        let auth_query = latchkey::http::encode_form(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", SCOPE),
            ("state", "xyz"),
            ("resource", API),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        Oxide {
            state: Mutex::new(State {
                registrar,
                authorizer: AuthMap::new(RandomGenerator::new(32)),
                issuer: TokenMap::new(RandomGenerator::new(32)),
                pkce,
                resource_scopes: vec!["profile:read".parse().expect("constant scope")],
            }),
            basic: format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            ),
            auth_query,
        }
    }

    fn authorize(&self, approve: bool) -> Result<Response, BenchError> {
        let mut s = self.state.lock().map_err(|_| "poisoned")?;
        let s = &mut *s;
        let endpoint = Generic {
            registrar: &s.registrar,
            authorizer: &mut s.authorizer,
            issuer: Vacant,
            solicitor: Consent { approve },
            scopes: Vacant,
            response: Vacant,
        };
        let mut endpoint = Extended::extend_with(endpoint, &mut s.pkce);
        let mut flow = AuthorizationFlow::prepare(&mut endpoint).map_err(|e| format!("{e:?}"))?;
        flow.execute(request(&self.auth_query, "", None))
            .map_err(|e| format!("{e:?}").into())
    }

    fn exchange(&self, location: &url::Url) -> Result<Tokens, BenchError> {
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or("no code in the redirect")?;
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
            latchkey::http::encode_component(&code),
            latchkey::http::encode_component(REDIRECT),
        );
        let mut s = self.state.lock().map_err(|_| "poisoned")?;
        let s = &mut *s;
        let endpoint = Generic {
            registrar: &s.registrar,
            authorizer: &mut s.authorizer,
            issuer: &mut s.issuer,
            solicitor: Vacant,
            scopes: Vacant,
            response: Vacant,
        };
        let mut endpoint = Extended::extend_with(endpoint, &mut s.pkce);
        let mut flow = AccessTokenFlow::prepare(&mut endpoint).map_err(|e| format!("{e:?}"))?;
        let r = flow
            .execute(request("", &body, Some(&self.basic)))
            .map_err(|e| format!("{e:?}"))?;
        tokens_from(&r).map_err(|e| format!("oxide-auth code exchange: {e}").into())
    }

    /// The code flow with a consent step.
    ///
    /// # Errors
    /// When a step does not answer as a successful flow does.
    pub fn code_flow(&self) -> Result<Tokens, BenchError> {
        let page = self.authorize(false)?;
        if page.status != Status::Ok {
            return Err("expected the consent page".into());
        }
        let r = self.authorize(true)?;
        let location = r.location.ok_or("expected a redirect")?;
        self.exchange(&location)
    }

    /// The code flow without a consent step.
    ///
    /// # Errors
    /// When a step does not answer as a successful flow does.
    pub fn remembered_code_flow(&self) -> Result<Tokens, BenchError> {
        let r = self.authorize(true)?;
        let location = r.location.ok_or("expected a redirect")?;
        self.exchange(&location)
    }

    /// One refresh.
    ///
    /// # Errors
    /// When refused.
    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, BenchError> {
        let body = format!(
            "grant_type=refresh_token&refresh_token={}",
            latchkey::http::encode_component(refresh_token)
        );
        let mut s = self.state.lock().map_err(|_| "poisoned")?;
        let s = &mut *s;
        let endpoint = Generic {
            registrar: &s.registrar,
            authorizer: Vacant,
            issuer: &mut s.issuer,
            solicitor: Vacant,
            scopes: Vacant,
            response: Vacant,
        };
        let mut flow = RefreshFlow::prepare(endpoint).map_err(|e| format!("{e:?}"))?;
        let r = flow
            .execute(request("", &body, Some(&self.basic)))
            .map_err(|e| format!("{e:?}"))?;
        tokens_from(&r).map_err(|e| format!("oxide-auth refresh: {e}").into())
    }

    /// One bearer check.
    ///
    /// # Errors
    /// When refused.
    pub fn verify_bearer(&self, token: &str) -> Result<(), BenchError> {
        let auth = format!("Bearer {token}");
        let mut s = self.state.lock().map_err(|_| "poisoned")?;
        let s = &mut *s;
        let endpoint = Generic {
            registrar: Vacant,
            authorizer: Vacant,
            issuer: &mut s.issuer,
            solicitor: Vacant,
            scopes: s.resource_scopes.as_slice(),
            response: Vacant,
        };
        let mut flow = ResourceFlow::prepare(endpoint).map_err(|e| format!("{e:?}"))?;
        flow.execute(request("", "", Some(&auth)))
            .map(|_| ())
            .map_err(|_| "bearer refused".into())
    }

    /// One client_credentials grant.
    ///
    /// # Errors
    /// When refused.
    pub fn client_credentials(&self) -> Result<String, BenchError> {
        let body = format!(
            "grant_type=client_credentials&scope=dns%3Aread&resource={}",
            latchkey::http::encode_component(API)
        );
        let mut s = self.state.lock().map_err(|_| "poisoned")?;
        let s = &mut *s;
        let mut solicitor = AsClient;
        let mut flow = client_credentials_flow(&s.registrar, &mut s.issuer, &mut solicitor);
        let r = flow
            .execute(request("", &body, Some(&self.basic)))
            .map_err(|e| format!("{e:?}"))?;
        Ok(tokens_from(&r)
            .map_err(|e| format!("oxide-auth client_credentials: {e}"))?
            .access)
    }
}

impl Default for Oxide {
    fn default() -> Self {
        Self::new()
    }
}
