//! The engine as a model: arbitrary sequences of operations run against a
//! real store, and after every step the engine's answers are compared
//! with a small reference model of what must be alive.
//!
//! The model is the rules of RFC 6749, RFC 7009 and RFC 9700 §4.14 as the
//! engine documents them, written out plainly:
//! - a code is redeemed at most once, and a second redemption revokes the
//!   family the first one started (RFC 6749 §4.1.2);
//! - a refresh token rotates; the rotated-out one, presented again within
//!   the grace period, gets the same successor (coalescing); later or
//!   older, it is reuse and kills its family (RFC 9700 §4.14.2);
//! - revoking a token, its family, its grant or its client kills every
//!   token under it, with one outbox event saying so;
//! - introspection (RFC 7662) and bearer verification say `active` exactly
//!   for the tokens the model holds alive.
//!
//! Boundaries where the model cannot know the engine's rounding (a token
//! expiring within a second of now) are left unchecked rather than guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use latchkey::clients::ClientRegistration;
use latchkey::clock::ManualClock;
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::introspect::Audience;
use latchkey::model::{EventKind, GrantType, RevocationReason};
use latchkey::storage::Storage;
use latchkey::{AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Principal};

use crate::{basic, check_json_answer, query_param, scopes, API, BINDING, CHALLENGE, ISSUER};
use crate::{REDIRECT, VERIFIER};

/// Code lifetime, access token lifetime, refresh lifetime, challenge
/// lifetime and grace, as configured in [`config`].
const CODE_TTL: u64 = 60;
const ACCESS_TTL: u64 = 900;
const REFRESH_TTL: u64 = 3_600;
const CHALLENGE_TTL: u64 = 900;
const GRACE: u64 = 30;
const MAX_CODE_FAILURES: u32 = 5;
/// Most operations run per input: longer sequences find nothing shorter
/// ones do not, and cost quadratic checking.
pub const MAX_OPS: usize = 48;

/// The engine configuration the model assumes.
pub fn config() -> EngineConfig {
    let mut c = EngineConfig::new(ISSUER, scopes());
    c.code_ttl = CODE_TTL;
    c.access_token_ttl = ACCESS_TTL;
    c.refresh_token_ttl = REFRESH_TTL;
    c.challenge_ttl = CHALLENGE_TTL;
    c.refresh_grace = GRACE;
    c.max_code_failures = MAX_CODE_FAILURES;
    c
}

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// Register another confidential client.
    Register,
    /// Authorize as a signed-in user: consent or, when remembered, a code.
    Authorize { client: u8, user: u8 },
    /// Authorize signed out, then sign in and resume the parked request.
    SignIn { client: u8, user: u8 },
    /// Decide on a pending consent prompt.
    Consent {
        pending: u8,
        approve: bool,
        remember: bool,
    },
    /// Redeem a code (with the right or a wrong PKCE verifier).
    Exchange { code: u8, wrong_verifier: bool },
    /// Refresh with the live token (`back` = 0) or an older one.
    Refresh { family: u8, back: u8 },
    /// Two refreshes of the live token at the same instant.
    ConcurrentRefresh { family: u8 },
    /// Revoke one access token (RFC 7009).
    RevokeAccess { family: u8, which: u8 },
    /// Revoke a refresh token, and so its family (RFC 7009 §2.1).
    RevokeRefresh { family: u8, back: u8 },
    /// The user revokes the grant a family belongs to.
    RevokeGrant { family: u8 },
    /// Delete a client.
    DeleteClient { client: u8 },
    /// Purge expired records.
    Purge,
    /// Move the clock.
    Advance { step: Step },
}

/// Clock moves chosen around the configured lifetimes.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// One second.
    Tick,
    /// Within the refresh grace.
    InGrace,
    /// Past the refresh grace.
    PastGrace,
    /// Past the code lifetime.
    PastCode,
    /// Past the access token lifetime.
    PastAccess,
    /// Past the refresh token lifetime.
    PastRefresh,
}

impl Op {
    /// Reads operations from three bytes each: the operation, then its two
    /// arguments (a plain format, so seeds are written by hand).
    pub fn decode(data: &[u8]) -> Vec<Op> {
        data.chunks_exact(3)
            .map(|c| {
                let (a, b) = (c[1], c[2]);
                match c[0] % 13 {
                    0 => Op::Register,
                    1 => Op::Authorize { client: a, user: b },
                    2 => Op::SignIn { client: a, user: b },
                    3 => Op::Consent {
                        pending: a,
                        approve: b & 1 == 0,
                        remember: b & 2 != 0,
                    },
                    4 => Op::Exchange {
                        code: a,
                        wrong_verifier: b & 1 != 0,
                    },
                    5 => Op::Refresh { family: a, back: b },
                    6 => Op::ConcurrentRefresh { family: a },
                    7 => Op::RevokeAccess {
                        family: a,
                        which: b,
                    },
                    8 => Op::RevokeRefresh { family: a, back: b },
                    9 => Op::RevokeGrant { family: a },
                    10 => Op::DeleteClient { client: a },
                    11 => Op::Purge,
                    _ => Op::Advance {
                        step: match a % 6 {
                            0 => Step::Tick,
                            1 => Step::InGrace,
                            2 => Step::PastGrace,
                            3 => Step::PastCode,
                            4 => Step::PastAccess,
                            _ => Step::PastRefresh,
                        },
                    },
                }
            })
            .collect()
    }
}

impl Step {
    fn secs(self) -> u64 {
        match self {
            Step::Tick => 1,
            Step::InGrace => GRACE / 3,
            Step::PastGrace => GRACE + 5,
            Step::PastCode => CODE_TTL + 7,
            Step::PastAccess => ACCESS_TTL + 11,
            Step::PastRefresh => REFRESH_TTL + 13,
        }
    }
}

struct MClient {
    id: String,
    secret: String,
    deleted: bool,
}

struct MPending {
    challenge: String,
    client: usize,
    user: usize,
    at: u64,
    used: bool,
}

#[derive(PartialEq)]
enum CodeState {
    Unused { failures: u32 },
    Redeemed(usize),
    Dead,
}

struct MCode {
    code: String,
    client: usize,
    user: usize,
    grant: usize,
    at: u64,
    state: CodeState,
}

struct MAccess {
    token: String,
    expires: u64,
    revoked: bool,
}

struct MFamily {
    id: Option<String>,
    client: usize,
    user: usize,
    grant: usize,
    refresh: Vec<String>,
    refresh_expires: u64,
    /// When the live token replaced the previous one, and the answer that
    /// carried it (what a coalesced retry must repeat).
    rotated: Option<(u64, serde_json::Value)>,
    access: Vec<MAccess>,
    revoked: bool,
}

/// What the outbox must say next (checked after every step).
#[derive(Debug, PartialEq)]
enum Expected {
    Family(usize, RevocationReason),
    Access(usize),
    Grant(usize),
    ClientDeleted(usize),
}

/// A revocation event as read from the outbox.
#[derive(Debug)]
enum Got {
    Family(String, RevocationReason),
    Access,
    Grant,
    Client(String),
}

/// The reference model and the engine it watches.
pub struct Model<S: Storage + ?Sized> {
    engine: Engine<S>,
    clock: Arc<ManualClock>,
    /// The resource server's credentials: introspects every token.
    rs_auth: String,
    clients: Vec<MClient>,
    pending: Vec<MPending>,
    codes: Vec<MCode>,
    families: Vec<MFamily>,
    /// Grants by (client, user): a generation that moves on revocation.
    grants: BTreeMap<(usize, usize), usize>,
    /// Remembered consent by (client, user).
    remembered: BTreeSet<(usize, usize)>,
    expected: Vec<Expected>,
    /// Events that may or may not come (boundary cases, no-op revocations).
    optional: Vec<Expected>,
    next_grant: usize,
}

const USERS: [&str; 2] = ["alice", "bob"];

fn principal(user: usize) -> Principal {
    Principal {
        subject: USERS[user].into(),
        account: "acme".into(),
    }
}

fn pick(n: u8, len: usize) -> Option<usize> {
    (len > 0).then(|| usize::from(n) % len)
}

impl<S: Storage + ?Sized> Model<S> {
    /// A model over `engine` (configured with [`config`], on `clock`).
    pub async fn new(engine: Engine<S>, clock: Arc<ManualClock>) -> Self {
        let rs = engine
            .register_client(
                &latchkey::Acting::operator("fuzz", latchkey::Source::default()),
                ClientRegistration {
                    owner: "acme".into(),
                    name: "API".into(),
                    grant_types: vec![GrantType::ClientCredentials],
                    scopes: vec!["profile:read".into()],
                    served_resources: vec![API.into()],
                    ..Default::default()
                },
            )
            .await
            .expect("resource server registers");
        let rs_auth = basic(&rs.client.id, rs.secret.as_ref().unwrap().expose());
        let mut m = Model {
            engine,
            clock,
            rs_auth,
            clients: vec![],
            pending: vec![],
            codes: vec![],
            families: vec![],
            grants: BTreeMap::new(),
            remembered: BTreeSet::new(),
            expected: vec![],
            optional: vec![],
            next_grant: 0,
        };
        m.register().await;
        // Registration events are not what the model watches.
        m.drain_events().await;
        m
    }

    fn now(&self) -> u64 {
        use latchkey::clock::Clock as _;
        self.clock.now().0
    }

    /// Whether `t` is clearly in the future (`Some(true)`), clearly past
    /// (`Some(false)`), or within a second of now (`None`: not checked).
    fn before(&self, t: u64) -> Option<bool> {
        let now = self.now();
        if now + 1 < t {
            Some(true)
        } else if now > t + 1 {
            Some(false)
        } else {
            None
        }
    }

    fn grant_of(&mut self, client: usize, user: usize) -> usize {
        let next = &mut self.next_grant;
        *self.grants.entry((client, user)).or_insert_with(|| {
            *next += 1;
            *next
        })
    }

    /// Runs one operation and checks what it answered.
    pub async fn step(&mut self, op: &Op) {
        match *op {
            Op::Register => self.register().await,
            Op::Authorize { client, user } => self.authorize(client, user, true).await,
            Op::SignIn { client, user } => self.authorize(client, user, false).await,
            Op::Consent {
                pending,
                approve,
                remember,
            } => self.consent(pending, approve, remember).await,
            Op::Exchange {
                code,
                wrong_verifier,
            } => self.exchange(code, wrong_verifier).await,
            Op::Refresh { family, back } => self.refresh(family, back).await,
            Op::ConcurrentRefresh { family } => self.concurrent_refresh(family).await,
            Op::RevokeAccess { family, which } => self.revoke_access(family, which).await,
            Op::RevokeRefresh { family, back } => self.revoke_refresh(family, back).await,
            Op::RevokeGrant { family } => self.revoke_grant(family).await,
            Op::DeleteClient { client } => self.delete_client(client).await,
            Op::Purge => {
                self.engine.purge_expired(1_000).await.expect("purge");
            }
            Op::Advance { step } => self.clock.advance(step.secs()),
        }
        self.check_events().await;
        self.check_liveness().await;
    }

    async fn register(&mut self) {
        let n = self.clients.len();
        let c = self
            .engine
            .register_client(
                &latchkey::Acting::operator("fuzz", latchkey::Source::default()),
                ClientRegistration {
                    owner: "acme".into(),
                    name: format!("App {n}"),
                    redirect_uris: vec![REDIRECT.into()],
                    grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                    scopes: vec!["profile:read".into(), "dns:read".into()],
                    resources: vec![API.into()],
                    ..Default::default()
                },
            )
            .await
            .expect("registration");
        self.clients.push(MClient {
            id: c.client.id.clone(),
            secret: c.secret.as_ref().unwrap().expose().to_owned(),
            deleted: false,
        });
    }

    fn auth(&self, client: usize) -> String {
        let c = &self.clients[client];
        basic(&c.id, &c.secret)
    }

    fn authorize_request(&self, client: usize) -> HttpRequest {
        HttpRequest::get(&[
            ("response_type", "code"),
            ("client_id", &self.clients[client].id),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st"),
            ("redirect_uri", REDIRECT),
            ("scope", "profile:read dns:read"),
            ("resource", API),
        ])
    }

    async fn authorize(&mut self, client: u8, user: u8, signed_in: bool) {
        let Some(client) = pick(client, self.clients.len()) else {
            return;
        };
        let user = usize::from(user) % USERS.len();
        let req = self.authorize_request(client);
        let who = principal(user);
        let mut outcome = self
            .engine
            .authorize(&req, signed_in.then_some(&who), BINDING)
            .await;
        if !signed_in {
            let AuthorizeOutcome::LoginRequired { challenge } = &outcome else {
                if self.clients[client].deleted {
                    assert!(
                        matches!(outcome, AuthorizeOutcome::ShowError(_)),
                        "a deleted client's request must not proceed: {outcome:?}"
                    );
                    return;
                }
                panic!("signed out, expected LoginRequired: {outcome:?}");
            };
            outcome = self
                .engine
                .resume(
                    challenge.expose(),
                    BINDING,
                    &who,
                    &latchkey::Source::default(),
                )
                .await;
        }
        if self.clients[client].deleted {
            assert!(
                matches!(outcome, AuthorizeOutcome::ShowError(_)),
                "a deleted client's request must not proceed: {outcome:?}"
            );
            return;
        }
        let remembered = self.remembered.contains(&(client, user));
        match outcome {
            AuthorizeOutcome::ConsentRequired(p) => {
                assert!(!remembered, "remembered consent asked again");
                self.pending.push(MPending {
                    challenge: p.challenge.expose().to_owned(),
                    client,
                    user,
                    at: self.now(),
                    used: false,
                });
            }
            AuthorizeOutcome::Redirect(location) => {
                assert!(remembered, "consent skipped although not remembered");
                self.record_code(&location, client, user);
            }
            other => panic!("authorize gave {other:?}"),
        }
    }

    fn record_code(&mut self, location: &str, client: usize, user: usize) {
        assert!(location.starts_with(REDIRECT), "redirect elsewhere");
        assert_eq!(query_param(location, "iss").as_deref(), Some(ISSUER));
        let code = query_param(location, "code").expect("a code");
        let grant = self.grant_of(client, user);
        self.codes.push(MCode {
            code,
            client,
            user,
            grant,
            at: self.now(),
            state: CodeState::Unused { failures: 0 },
        });
    }

    async fn consent(&mut self, pending: u8, approve: bool, remember: bool) {
        let Some(i) = pick(pending, self.pending.len()) else {
            return;
        };
        let (challenge, client, user, at, used) = {
            let p = &self.pending[i];
            (p.challenge.clone(), p.client, p.user, p.at, p.used)
        };
        let who = principal(user);
        let outcome = if approve {
            let d = ConsentDecision {
                scopes: None,
                remember,
            };
            self.engine
                .accept(&challenge, BINDING, &who, d, &latchkey::Source::default())
                .await
        } else {
            self.engine.reject(&challenge, BINDING).await
        };
        self.pending[i].used = true;
        let fresh = self.before(at + CHALLENGE_TTL);
        let live = !used && !self.clients[client].deleted;
        let gives_code =
            matches!(&outcome, AuthorizeOutcome::Redirect(l) if query_param(l, "code").is_some());
        if !live || fresh == Some(false) || !approve {
            assert!(
                !gives_code,
                "a used, expired, rejected or orphaned challenge gave a code"
            );
            return;
        }
        if fresh.is_none() && !gives_code {
            return;
        }
        let AuthorizeOutcome::Redirect(location) = outcome else {
            panic!("accepting a live challenge gave {outcome:?}");
        };
        assert!(gives_code, "accepting a live challenge gave no code");
        if remember {
            self.remembered.insert((client, user));
        }
        self.record_code(&location, client, user);
    }

    async fn token(&self, client: usize, pairs: &[(&str, &str)]) -> HttpResponse {
        let req = HttpRequest::form_post(pairs).with_header("Authorization", &self.auth(client));
        let r = self.engine.token(&req).await;
        check_json_answer(&r, false);
        r
    }

    async fn exchange(&mut self, code: u8, wrong_verifier: bool) {
        let Some(i) = pick(code, self.codes.len()) else {
            return;
        };
        let verifier = if wrong_verifier {
            "wrong-verifier-wrong-verifier-wrong-verifier-xx"
        } else {
            VERIFIER
        };
        let (text, client) = (self.codes[i].code.clone(), self.codes[i].client);
        let r = self
            .token(
                client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &text),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
            )
            .await;
        if self.clients[client].deleted {
            assert_eq!(r.status, 401, "a deleted client redeemed a code");
            return;
        }
        let c = &self.codes[i];
        let grant_alive = self.grants.get(&(c.client, c.user)) == Some(&c.grant);
        let fresh = self.before(c.at + CODE_TTL);
        match c.state {
            CodeState::Dead => assert_eq!(r.status, 400, "a dead code was redeemed"),
            CodeState::Redeemed(f) => {
                assert_eq!(r.status, 400, "a code was redeemed twice");
                if !wrong_verifier && fresh == Some(true) {
                    // RFC 6749 §4.1.2: the replay revokes what the code issued.
                    self.revoke_family_in_model(f, RevocationReason::CodeReplay);
                } else if !wrong_verifier && fresh.is_none() && !self.families[f].revoked {
                    // Within a second of expiry: a replay or an expired code.
                    self.optional
                        .push(Expected::Family(f, RevocationReason::CodeReplay));
                }
            }
            CodeState::Unused { failures } => {
                if !grant_alive || fresh == Some(false) {
                    assert_eq!(r.status, 400, "an expired or orphaned code was redeemed");
                    return;
                }
                if wrong_verifier {
                    assert_eq!(r.status, 400, "a wrong PKCE verifier was accepted");
                    let failures = failures + 1;
                    self.codes[i].state = if failures >= MAX_CODE_FAILURES {
                        CodeState::Dead
                    } else {
                        CodeState::Unused { failures }
                    };
                    return;
                }
                if fresh.is_none() && r.status == 400 {
                    self.codes[i].state = CodeState::Dead;
                    return;
                }
                assert_eq!(
                    r.status,
                    200,
                    "a fresh code was refused: {}",
                    String::from_utf8_lossy(&r.body)
                );
                let f = self.new_family(i, &r);
                self.codes[i].state = CodeState::Redeemed(f);
            }
        }
    }

    fn new_family(&mut self, code: usize, r: &HttpResponse) -> usize {
        let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let c = &self.codes[code];
        let now = self.now();
        self.families.push(MFamily {
            id: None,
            client: c.client,
            user: c.user,
            grant: c.grant,
            refresh: vec![j["refresh_token"].as_str().expect("refresh token").into()],
            refresh_expires: now + REFRESH_TTL,
            rotated: None,
            access: vec![MAccess {
                token: j["access_token"].as_str().expect("access token").into(),
                expires: now + ACCESS_TTL,
                revoked: false,
            }],
            revoked: false,
        });
        self.families.len() - 1
    }

    fn revoke_family_in_model(&mut self, f: usize, reason: RevocationReason) {
        if !self.families[f].revoked {
            self.families[f].revoked = true;
            self.expected.push(Expected::Family(f, reason));
        }
    }

    fn presented(&self, f: usize, back: u8) -> (usize, String) {
        let fam = &self.families[f];
        let g = fam.refresh.len() - 1 - (usize::from(back) % fam.refresh.len());
        (g, fam.refresh[g].clone())
    }

    async fn refresh(&mut self, family: u8, back: u8) {
        let Some(f) = pick(family, self.families.len()) else {
            return;
        };
        let (g, rt) = self.presented(f, back);
        let client = self.families[f].client;
        let r = self
            .token(
                client,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await;
        self.judge_refresh(f, g, &r);
    }

    /// Checks a refresh answer against the model and applies it.
    fn judge_refresh(&mut self, f: usize, g: usize, r: &HttpResponse) {
        let fam = &self.families[f];
        if self.clients[fam.client].deleted {
            assert_eq!(r.status, 401, "a deleted client refreshed");
            return;
        }
        if fam.revoked {
            assert_eq!(r.status, 400, "a revoked family refreshed");
            return;
        }
        let live = fam.refresh.len() - 1;
        let now = self.now();
        if g == live {
            match self.before(fam.refresh_expires) {
                Some(false) => assert_eq!(r.status, 400, "an expired refresh token worked"),
                None if r.status == 400 => {}
                _ => {
                    assert_eq!(
                        r.status,
                        200,
                        "the live refresh token was refused: {}",
                        String::from_utf8_lossy(&r.body)
                    );
                    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    let fam = &mut self.families[f];
                    fam.refresh
                        .push(j["refresh_token"].as_str().expect("rotated").into());
                    fam.refresh_expires = now + REFRESH_TTL;
                    fam.access.push(MAccess {
                        token: j["access_token"].as_str().expect("access").into(),
                        expires: now + ACCESS_TTL,
                        revoked: false,
                    });
                    fam.rotated = Some((now, j));
                }
            }
            return;
        }
        let in_grace = fam
            .rotated
            .as_ref()
            .map(|(at, _)| self.before(at + GRACE))
            .unwrap_or(Some(false));
        if g + 1 == live && in_grace != Some(false) {
            if in_grace.is_none() && r.status == 400 {
                self.revoke_family_in_model(f, RevocationReason::RefreshReuse);
                return;
            }
            // Coalesced: the same successor, whose lifetime has run on.
            assert_eq!(r.status, 200, "a retry within the grace period was refused");
            let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let (at, first) = fam.rotated.as_ref().unwrap();
            for k in ["access_token", "refresh_token", "token_type", "scope"] {
                assert_eq!(j[k], first[k], "coalesced answer differs in {k}");
            }
            let elapsed = now - at;
            assert_eq!(
                j["expires_in"].as_u64(),
                first["expires_in"].as_u64().map(|e| e - elapsed),
                "coalesced expires_in"
            );
            return;
        }
        assert_eq!(r.status, 400, "a rotated-out refresh token worked");
        if self.before(self.families[f].refresh_expires) == Some(true) {
            self.revoke_family_in_model(f, RevocationReason::RefreshReuse);
        } else {
            // Expired: purge may have removed the family, and a token
            // nobody knows any more revokes nothing (found by this target:
            // the model expected an event for a purged family).
            self.families[f].revoked = true;
            self.optional
                .push(Expected::Family(f, RevocationReason::RefreshReuse));
        }
    }

    async fn concurrent_refresh(&mut self, family: u8) {
        let Some(f) = pick(family, self.families.len()) else {
            return;
        };
        let (g, rt) = self.presented(f, 0);
        let client = self.families[f].client;
        let pairs = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        let (a, b) = tokio::join!(self.token(client, &pairs), self.token(client, &pairs));
        assert_eq!(a.status, b.status, "concurrent refreshes disagree");
        if a.status == 200 {
            assert_eq!(a.body, b.body, "coalesced refreshes are not byte-identical");
        }
        self.judge_refresh(f, g, &a);
    }

    async fn revoke(&self, client: usize, token: &str) -> HttpResponse {
        let req = HttpRequest::form_post(&[("token", token)])
            .with_header("Authorization", &self.auth(client));
        let r = self.engine.revoke(&req).await;
        check_json_answer(&r, true);
        r
    }

    async fn revoke_access(&mut self, family: u8, which: u8) {
        let Some(f) = pick(family, self.families.len()) else {
            return;
        };
        let Some(a) = pick(which, self.families[f].access.len()) else {
            return;
        };
        let client = self.families[f].client;
        let token = self.families[f].access[a].token.clone();
        let r = self.revoke(client, &token).await;
        if self.clients[client].deleted {
            assert_eq!(r.status, 401);
            return;
        }
        assert_eq!(r.status, 200, "revocation refused");
        // An access token is revoked alone, with its event. Revoking a
        // dead one may be recorded or not (its record may be purged).
        let alive = !self.families[f].access[a].revoked && !self.families[f].revoked;
        let fresh = self.before(self.families[f].access[a].expires);
        if alive && fresh == Some(true) {
            self.expected.push(Expected::Access(f));
        } else {
            self.optional.push(Expected::Access(f));
        }
        self.families[f].access[a].revoked = true;
    }

    async fn revoke_refresh(&mut self, family: u8, back: u8) {
        let Some(f) = pick(family, self.families.len()) else {
            return;
        };
        let (_, rt) = self.presented(f, back);
        let client = self.families[f].client;
        let r = self.revoke(client, &rt).await;
        if self.clients[client].deleted {
            assert_eq!(r.status, 401);
            return;
        }
        assert_eq!(r.status, 200, "revocation refused");
        if self.before(self.families[f].refresh_expires) == Some(true) {
            self.revoke_family_in_model(f, RevocationReason::Requested);
        } else if !self.families[f].revoked {
            // Expired: purge may have removed the family, and an unknown
            // token is revoked silently (RFC 7009 §2.2).
            self.families[f].revoked = true;
            self.optional
                .push(Expected::Family(f, RevocationReason::Requested));
        }
    }

    async fn revoke_grant(&mut self, family: u8) {
        let Some(f) = pick(family, self.families.len()) else {
            return;
        };
        let (client, user, grant) = {
            let fam = &self.families[f];
            (fam.client, fam.user, fam.grant)
        };
        if self.grants.get(&(client, user)) != Some(&grant) || self.clients[client].deleted {
            return;
        }
        let apps = self
            .engine
            .connected_apps(USERS[user])
            .await
            .expect("connected apps");
        let Some(app) = apps.iter().find(|a| a.client_id == self.clients[client].id) else {
            // Only a grant whose every token expired may have been purged.
            let alive = self.families.iter().any(|fam| {
                fam.grant == grant
                    && !fam.revoked
                    && self.before(fam.refresh_expires) != Some(false)
            });
            assert!(
                !alive,
                "a grant with live tokens is not among the user's connected apps"
            );
            return;
        };
        self.engine
            .revoke_grant(
                &latchkey::Audit::user(USERS[user], latchkey::Source::default()),
                USERS[user],
                &app.grant_id,
            )
            .await
            .expect("revoke grant");
        self.grants.remove(&(client, user));
        self.remembered.remove(&(client, user));
        self.expected.push(Expected::Grant(grant));
        for fam in &mut self.families {
            if fam.grant == grant {
                fam.revoked = true;
            }
        }
    }

    async fn delete_client(&mut self, client: u8) {
        let Some(c) = pick(client, self.clients.len()) else {
            return;
        };
        if self.clients[c].deleted {
            return;
        }
        self.engine
            .delete_client(
                &latchkey::Acting::operator("fuzz", latchkey::Source::default()),
                &self.clients[c].id,
            )
            .await
            .expect("delete client");
        self.clients[c].deleted = true;
        self.expected.push(Expected::ClientDeleted(c));
        self.grants.retain(|(cl, _), _| *cl != c);
        self.remembered.retain(|(cl, _)| *cl != c);
        for fam in &mut self.families {
            if fam.client == c {
                fam.revoked = true;
            }
        }
    }

    async fn drain_events(&mut self) -> Vec<EventKind> {
        let events = self.engine.poll_events("fuzz", 10_000).await.expect("poll");
        if let Some(last) = events.last() {
            self.engine.ack_events("fuzz", last.seq).await.expect("ack");
        }
        events.into_iter().map(|e| e.kind).collect()
    }

    /// Every revocation the model expects has its event, in order, and
    /// no revocation event appears that the model did not expect.
    async fn check_events(&mut self) {
        let events = self.drain_events().await;
        let mut expected = std::mem::take(&mut self.expected).into_iter().peekable();
        let mut optional = std::mem::take(&mut self.optional);
        for e in events {
            let got = match e {
                EventKind::FamilyRevoked {
                    family_id, reason, ..
                } => Got::Family(family_id, reason),
                EventKind::AccessTokenRevoked { .. } => Got::Access,
                EventKind::GrantRevoked { .. } => Got::Grant,
                EventKind::ClientDeleted { client_id } => Got::Client(client_id),
                EventKind::SubjectRevoked { .. } => panic!("nobody revoked a subject"),
                _ => continue,
            };
            if let Some(want) = expected.peek() {
                if self.event_is(&got, want) {
                    expected.next();
                    continue;
                }
            }
            if let Some(i) = optional.iter().position(|w| self.event_is(&got, w)) {
                if let Expected::Family(f, _) = optional.remove(i) {
                    self.families[f].revoked = true;
                }
                continue;
            }
            panic!(
                "unexpected revocation event {got:?}; expected {:?}",
                expected.peek()
            );
        }
        let missing: Vec<_> = expected.collect();
        assert!(
            missing.is_empty(),
            "revocations without their outbox event: {missing:?}"
        );
    }

    /// Whether `got` is the event `want` describes (learning a family's
    /// id from its first event).
    fn event_is(&mut self, got: &Got, want: &Expected) -> bool {
        match (got, want) {
            (Got::Family(id, reason), Expected::Family(f, r)) => {
                reason == r && self.families[*f].id.get_or_insert_with(|| id.clone()) == id
            }
            (Got::Access, Expected::Access(_)) | (Got::Grant, Expected::Grant(_)) => true,
            (Got::Client(id), Expected::ClientDeleted(c)) => *id == self.clients[*c].id,
            _ => false,
        }
    }

    /// Whether introspection as `caller` says `token` is active.
    async fn introspect(&self, token: &str, caller: &str) -> bool {
        let req = HttpRequest::form_post(&[("token", token)]).with_header("Authorization", caller);
        let r = self.engine.introspect(&req).await;
        let j = check_json_answer(&r, false);
        assert_eq!(r.status, 200, "introspection refused: {j}");
        j["active"].as_bool().expect("active is a boolean")
    }

    /// Introspection and bearer checks agree with the model for every
    /// token it ever saw.
    async fn check_liveness(&self) {
        for (fi, fam) in self.families.iter().enumerate() {
            let live = fam.refresh.len() - 1;
            // Refresh tokens are introspected by the client holding them
            // (resource servers never see them); a deleted client cannot
            // ask, and cannot use them either.
            let owner = self.auth(fam.client);
            let asker = !self.clients[fam.client].deleted;
            for (g, rt) in fam.refresh.iter().enumerate().filter(|_| asker) {
                let want = if fam.revoked || g != live {
                    Some(false)
                } else {
                    self.before(fam.refresh_expires)
                };
                if let Some(want) = want {
                    let got = self.introspect(rt, &owner).await;
                    assert_eq!(got, want, "refresh token {g} of family {fi}: introspection");
                }
            }
            for (ai, at) in fam.access.iter().enumerate() {
                let want = if fam.revoked || at.revoked {
                    Some(false)
                } else {
                    self.before(at.expires)
                };
                let Some(want) = want else { continue };
                let got = self.introspect(&at.token, &self.rs_auth).await;
                assert_eq!(got, want, "access token {ai} of family {fi}: introspection");
                let req = HttpRequest::new("GET")
                    .with_header("Authorization", &format!("Bearer {}", at.token));
                let bearer = self
                    .engine
                    .verify_bearer(&req, Audience::Resource(API), &[])
                    .await;
                assert_eq!(
                    bearer.is_ok(),
                    want,
                    "access token {ai} of family {fi}: bearer"
                );
            }
        }
    }
}

/// Runs `ops` (at most [`MAX_OPS`]) on a model over `engine`.
pub async fn run<S: Storage + ?Sized>(engine: Engine<S>, clock: Arc<ManualClock>, ops: &[Op]) {
    // `LATCHKEY_FUZZ_TRACE=1` prints each step, to read a finding's input.
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let trace = *TRACE.get_or_init(|| std::env::var_os("LATCHKEY_FUZZ_TRACE").is_some());
    let mut m = Model::new(engine, clock).await;
    for op in ops.iter().take(MAX_OPS) {
        if trace {
            eprintln!("step: {op:?}");
        }
        m.step(op).await;
    }
}
