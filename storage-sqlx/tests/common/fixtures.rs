//! Records for tests beyond the conformance suite.

use latchkey::clock::Timestamp;
use latchkey::entropy::{Entropy, SystemEntropy};
use latchkey::model::{
    AccessTokenRecord, AuthMethod, ClientLifetimes, ClientRecord, CodeRecord, CodeStatus,
    EventKind, FamilyRecord, GrantRecord, GrantType, NewEvent, PreviousGeneration,
    RefreshGeneration, Revocation, RevocationReason, Visibility,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::{Approval, ApproveOutcome, Issuance, RedeemOutcome, Rotation, Storage};
use latchkey::token::TokenHash;

pub const T0: Timestamp = Timestamp(1_700_000_000);

pub fn hash() -> TokenHash {
    let mut b = [0u8; 32];
    SystemEntropy::new().fill(&mut b).expect("entropy");
    TokenHash(b)
}

pub fn id(prefix: &str) -> String {
    format!("{prefix}_{}", &hash().to_hex()[..16])
}

pub fn scopes() -> ScopeSet {
    ScopeSet::parse("profile:read").expect("scopes")
}

pub fn client(owner: &str) -> ClientRecord {
    ClientRecord {
        id: id("client"),
        owner: owner.to_owned(),
        created_by: None,
        name: "Load".to_owned(),
        redirect_uris: vec!["https://app.example/cb".to_owned()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: scopes(),
        resources: vec![],
        served_resources: vec![],
        auth_method: AuthMethod::None,
        secret: None,
        visibility: Visibility::Private,
        domains: vec![],
        lifetimes: ClientLifetimes::default(),
        access_token_format: None,
        registration: None,
        metadata_document: None,
        created_at: T0,
        updated_at: T0,
        revision: 0,
    }
}

pub fn grant(subject: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        id: id("grant"),
        subject: subject.to_owned(),
        client_id: client_id.to_owned(),
        scopes: scopes(),
        resources: vec![],
        remembered_scopes: None,
        created_at: T0,
        last_used_at: T0,
        revision: 0,
    }
}

pub fn code(g: &GrantRecord) -> CodeRecord {
    CodeRecord {
        hash: hash(),
        client_id: g.client_id.clone(),
        grant_id: g.id.clone(),
        subject: g.subject.clone(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_explicit: true,
        scopes: g.scopes.clone(),
        resources: vec![],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        issued_at: T0,
        expires_at: T0.plus(600),
        failed_attempts: 0,
        status: CodeStatus::Unused,
    }
}

pub fn access(
    f: Option<&FamilyRecord>,
    client_id: &str,
    expires_at: Timestamp,
) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: hash(),
        family_id: f.map(|f| f.id.clone()),
        client_id: client_id.to_owned(),
        subject: f.map_or_else(|| client_id.to_owned(), |f| f.subject.clone()),
        scopes: scopes(),
        resources: vec![],
        issued_at: T0,
        expires_at,
        revoked_at: None,
    }
}

pub fn issuance(c: &CodeRecord) -> Issuance {
    let family = FamilyRecord {
        id: id("fam"),
        grant_id: c.grant_id.clone(),
        client_id: c.client_id.clone(),
        subject: c.subject.clone(),
        scopes: c.scopes.clone(),
        resources: vec![],
        generation: 0,
        current: RefreshGeneration {
            hash: hash(),
            issued_at: T0,
            expires_at: T0.plus(86_400),
        },
        previous: None,
        created_at: T0,
        expires_at: T0.plus(86_400),
        revoked: None,
    };
    let access = access(Some(&family), &c.client_id, T0.plus(3_600));
    Issuance {
        family,
        access,
        events: vec![NewEvent {
            audit: latchkey::Audit::system(),
            at: T0,
            kind: EventKind::GrantCreated {
                grant_id: c.grant_id.clone(),
                subject: c.subject.clone(),
                client_id: c.client_id.clone(),
            },
        }],
    }
}

/// A rotation away from generation `from` of `f` (whose current refresh
/// token hash is `current`).
pub fn rotation(f: &FamilyRecord, current: TokenHash, tag: u8) -> Rotation {
    Rotation {
        current: RefreshGeneration {
            hash: hash(),
            issued_at: T0.plus(10),
            expires_at: T0.plus(86_400),
        },
        previous: PreviousGeneration {
            hash: current,
            rotated_at: T0.plus(10),
            sealed_successor: vec![tag; 16],
        },
        access: access(Some(f), &f.client_id, T0.plus(3_600)),
        expires_at: T0.plus(86_400),
        now: T0.plus(10),
    }
}

pub fn revocation() -> Revocation {
    Revocation {
        at: T0,
        reason: RevocationReason::Requested,
    }
}

pub fn family_revoked(f: &FamilyRecord) -> NewEvent {
    NewEvent {
        audit: latchkey::Audit::system(),
        at: T0,
        kind: EventKind::FamilyRevoked {
            family_id: f.id.clone(),
            grant_id: f.grant_id.clone(),
            client_id: f.client_id.clone(),
            reason: RevocationReason::Requested,
        },
    }
}

/// An approval of `code` into `g` (created under `g.id` if absent).
pub fn approval(g: &GrantRecord, code: &CodeRecord) -> Approval {
    Approval {
        challenge: None,
        code: code.clone(),
        remember: false,
        new_grant_id: g.id.clone(),
        audit: latchkey::Audit::system(),
    }
}

/// A client, a grant with an approved code: ready to redeem.
pub async fn approved_code<S: Storage + ?Sized>(
    store: &S,
    subject: &str,
) -> (GrantRecord, CodeRecord) {
    let c = client("acme");
    store.insert_client(&c, &[]).await.expect("client");
    let g = grant(subject, &c.id);
    let code = code(&g);
    let out = store.approve(&approval(&g, &code)).await.expect("approve");
    assert!(matches!(out, ApproveOutcome::Approved { .. }), "{out:?}");
    (g, code)
}

/// A grant and a redeemed code: a live family at generation 0.
pub async fn issued_family<S: Storage + ?Sized>(
    store: &S,
    subject: &str,
) -> (GrantRecord, Issuance) {
    let (g, code) = approved_code(store, subject).await;
    let iss = issuance(&code);
    assert_eq!(
        store
            .redeem_code(&code.hash, T0, &iss)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    (g, iss)
}

/// Latency summary in milliseconds: (count, p50, p99, max).
pub fn summary(mut v: Vec<f64>) -> (usize, f64, f64, f64) {
    if v.is_empty() {
        return (0, 0.0, 0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (v.len(), at(0.5), at(0.99), v[v.len() - 1])
}
