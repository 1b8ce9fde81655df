//! The compact layout of each record type that is written per token or
//! per consent (codes, challenges, grants, families, access tokens, outbox
//! events): see [`super::encode`] for how it sits next to JSON.
//!
//! A record type's layout is its fields in declaration order, written with
//! [`Writer`]. Changing a layout means a new tag byte in [`super`], with
//! the old one still read. Enum variants are numbered here, once and for
//! all; a variant this file does not know (the core's enums are
//! `#[non_exhaustive]`) makes the record fall back to JSON, never fail.

use std::net::IpAddr;

use latchkey::audit::{Actor, Audit, Source};
use latchkey::model::{
    AccessTokenRecord, ChallengeRecord, CodeRecord, CodeStatus, Event, EventKind, FamilyRecord,
    GrantRecord, PendingAuthorization, PendingDevice, PreviousGeneration, RefreshGeneration,
    Revocation, RevocationReason,
};
use latchkey::token::TokenHash;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{Reader, Writer};
use crate::error::Failure;

/// A record type stored as a value. JSON is every type's fallback; the
/// types written per token or consent also have a compact layout.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// Writes the compact layout; `false` when this value has none (a
    /// variant this build does not number), so it is stored as JSON.
    fn put(&self, _w: &mut Writer) -> bool {
        false
    }

    /// Reads the compact layout.
    fn get(_r: &mut Reader<'_>) -> Result<Self, Failure> {
        Err(Failure::Corrupt(
            "a compact record where this table only holds JSON".into(),
        ))
    }
}

impl Record for latchkey::model::ClientRecord {}
impl Record for latchkey::model::DeviceRecord {}
impl Record for latchkey::jwt::SigningKeyRecord {}
impl Record for super::StoredSession {}

fn revocation_reason(r: RevocationReason) -> Option<u8> {
    Some(match r {
        RevocationReason::RefreshReuse => 0,
        RevocationReason::CodeReplay => 1,
        RevocationReason::Requested => 2,
        RevocationReason::GrantRevoked => 3,
        RevocationReason::ClientDeleted => 4,
        RevocationReason::SubjectRevoked => 5,
        _ => return None,
    })
}

fn get_revocation_reason(r: &mut Reader<'_>) -> Result<RevocationReason, Failure> {
    Ok(match r.u8()? {
        0 => RevocationReason::RefreshReuse,
        1 => RevocationReason::CodeReplay,
        2 => RevocationReason::Requested,
        3 => RevocationReason::GrantRevoked,
        4 => RevocationReason::ClientDeleted,
        5 => RevocationReason::SubjectRevoked,
        _ => return Err(Failure::Corrupt("unknown revocation reason".into())),
    })
}

impl Record for CodeRecord {
    fn put(&self, w: &mut Writer) -> bool {
        // (tag, family id): 0 unused, 1 redeemed, 2 burned.
        let status = match &self.status {
            CodeStatus::Unused => (0, None),
            CodeStatus::Redeemed { family_id } => (1, Some(family_id.as_str())),
            CodeStatus::Burned => (2, None),
            _ => return false,
        };
        w.hash(&self.hash.0);
        w.str(&self.client_id);
        w.str(&self.grant_id);
        w.str(&self.subject);
        w.str(&self.redirect_uri);
        w.bool(self.redirect_uri_explicit);
        w.scopes(&self.scopes);
        w.strs(self.resources.iter().map(String::as_str));
        w.str(&self.code_challenge);
        w.time(self.issued_at);
        w.time(self.expires_at);
        w.uint(u64::from(self.failed_attempts));
        w.u8(status.0);
        if let Some(family) = status.1 {
            w.str(family);
        }
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(CodeRecord {
            hash: TokenHash(r.hash()?),
            client_id: r.str()?,
            grant_id: r.str()?,
            subject: r.str()?,
            redirect_uri: r.str()?,
            redirect_uri_explicit: r.bool()?,
            scopes: r.scopes()?,
            resources: r.strs()?,
            code_challenge: r.str()?,
            issued_at: r.time()?,
            expires_at: r.time()?,
            failed_attempts: r.u32()?,
            status: match r.u8()? {
                0 => CodeStatus::Unused,
                1 => CodeStatus::Redeemed {
                    family_id: r.str()?,
                },
                2 => CodeStatus::Burned,
                _ => return Err(Failure::Corrupt("unknown code status".into())),
            },
        })
    }
}

impl Record for ChallengeRecord {
    fn put(&self, w: &mut Writer) -> bool {
        let p = &self.request;
        w.hash(&self.hash.0);
        w.hash(&self.binding.0);
        w.str(&p.client_id);
        w.str(&p.redirect_uri);
        w.bool(p.redirect_uri_explicit);
        w.opt(p.state.as_deref(), Writer::str);
        w.scopes(&p.scopes);
        w.strs(p.resources.iter().map(String::as_str));
        w.str(&p.code_challenge);
        w.opt(p.device.as_ref(), |w, d| {
            w.hash(&d.hash.0);
            w.time(d.expires_at);
        });
        w.time(self.created_at);
        w.time(self.expires_at);
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(ChallengeRecord {
            hash: TokenHash(r.hash()?),
            binding: TokenHash(r.hash()?),
            request: PendingAuthorization {
                client_id: r.str()?,
                redirect_uri: r.str()?,
                redirect_uri_explicit: r.bool()?,
                state: r.opt(Reader::str)?,
                scopes: r.scopes()?,
                resources: r.strs()?,
                code_challenge: r.str()?,
                device: r.opt(|r| {
                    Ok(PendingDevice {
                        hash: TokenHash(r.hash()?),
                        expires_at: r.time()?,
                    })
                })?,
            },
            created_at: r.time()?,
            expires_at: r.time()?,
        })
    }
}

impl Record for GrantRecord {
    fn put(&self, w: &mut Writer) -> bool {
        w.str(&self.id);
        w.str(&self.subject);
        w.str(&self.client_id);
        w.scopes(&self.scopes);
        w.strs(self.resources.iter().map(String::as_str));
        w.opt(self.remembered_scopes.as_ref(), Writer::scopes);
        w.time(self.created_at);
        w.time(self.last_used_at);
        w.uint(self.revision);
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(GrantRecord {
            id: r.str()?,
            subject: r.str()?,
            client_id: r.str()?,
            scopes: r.scopes()?,
            resources: r.strs()?,
            remembered_scopes: r.opt(Reader::scopes)?,
            created_at: r.time()?,
            last_used_at: r.time()?,
            revision: r.uint()?,
        })
    }
}

impl Record for FamilyRecord {
    fn put(&self, w: &mut Writer) -> bool {
        let revoked = match self.revoked {
            None => None,
            Some(rv) => match revocation_reason(rv.reason) {
                Some(code) => Some((rv.at, code)),
                None => return false,
            },
        };
        w.str(&self.id);
        w.str(&self.grant_id);
        w.str(&self.client_id);
        w.str(&self.subject);
        w.scopes(&self.scopes);
        w.strs(self.resources.iter().map(String::as_str));
        w.uint(self.generation);
        w.hash(&self.current.hash.0);
        w.time(self.current.issued_at);
        w.time(self.current.expires_at);
        w.opt(self.previous.as_ref(), |w, p| {
            w.hash(&p.hash.0);
            w.time(p.rotated_at);
            w.bytes(&p.sealed_successor);
        });
        w.time(self.created_at);
        w.time(self.expires_at);
        w.opt(revoked, |w, (at, code)| {
            w.time(at);
            w.u8(code);
        });
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(FamilyRecord {
            id: r.str()?,
            grant_id: r.str()?,
            client_id: r.str()?,
            subject: r.str()?,
            scopes: r.scopes()?,
            resources: r.strs()?,
            generation: r.uint()?,
            current: RefreshGeneration {
                hash: TokenHash(r.hash()?),
                issued_at: r.time()?,
                expires_at: r.time()?,
            },
            previous: r.opt(|r| {
                Ok(PreviousGeneration {
                    hash: TokenHash(r.hash()?),
                    rotated_at: r.time()?,
                    sealed_successor: r.bytes()?,
                })
            })?,
            created_at: r.time()?,
            expires_at: r.time()?,
            revoked: r.opt(|r| {
                Ok(Revocation {
                    at: r.time()?,
                    reason: get_revocation_reason(r)?,
                })
            })?,
        })
    }
}

impl Record for AccessTokenRecord {
    fn put(&self, w: &mut Writer) -> bool {
        w.hash(&self.hash.0);
        w.opt(self.family_id.as_deref(), Writer::str);
        w.str(&self.client_id);
        w.str(&self.subject);
        w.scopes(&self.scopes);
        w.strs(self.resources.iter().map(String::as_str));
        w.time(self.issued_at);
        w.time(self.expires_at);
        w.opt(self.revoked_at, Writer::time);
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(AccessTokenRecord {
            hash: TokenHash(r.hash()?),
            family_id: r.opt(Reader::str)?,
            client_id: r.str()?,
            subject: r.str()?,
            scopes: r.scopes()?,
            resources: r.strs()?,
            issued_at: r.time()?,
            expires_at: r.time()?,
            revoked_at: r.opt(Reader::time)?,
        })
    }
}

/// Event kinds, numbered; the fields of each follow its number.
fn put_kind(w: &mut Writer, k: &EventKind) -> bool {
    match k {
        EventKind::ClientCreated { client_id } => {
            w.u8(0);
            w.str(client_id);
        }
        EventKind::ClientUpdated { client_id } => {
            w.u8(1);
            w.str(client_id);
        }
        EventKind::ClientDeleted { client_id } => {
            w.u8(2);
            w.str(client_id);
        }
        EventKind::SecretRotated { client_id } => {
            w.u8(3);
            w.str(client_id);
        }
        EventKind::GrantCreated {
            grant_id,
            subject,
            client_id,
        } => {
            w.u8(4);
            w.str(grant_id);
            w.str(subject);
            w.str(client_id);
        }
        EventKind::ConsentGiven {
            grant_id,
            subject,
            client_id,
            scopes,
        } => {
            w.u8(5);
            w.str(grant_id);
            w.str(subject);
            w.str(client_id);
            w.scopes(scopes);
        }
        EventKind::GrantRevoked {
            grant_id,
            subject,
            client_id,
        } => {
            w.u8(6);
            w.str(grant_id);
            w.str(subject);
            w.str(client_id);
        }
        EventKind::SubjectRevoked { subject } => {
            w.u8(7);
            w.str(subject);
        }
        EventKind::FamilyRevoked {
            family_id,
            grant_id,
            client_id,
            reason,
        } => {
            let Some(reason) = revocation_reason(*reason) else {
                return false;
            };
            w.u8(8);
            w.str(family_id);
            w.str(grant_id);
            w.str(client_id);
            w.u8(reason);
        }
        EventKind::AccessTokenRevoked { client_id, subject } => {
            w.u8(9);
            w.str(client_id);
            w.str(subject);
        }
        EventKind::DomainVerified { client_id, domain } => {
            w.u8(10);
            w.str(client_id);
            w.str(domain);
        }
        EventKind::DomainLapsed { client_id, domain } => {
            w.u8(11);
            w.str(client_id);
            w.str(domain);
        }
        _ => return false,
    }
    true
}

fn get_kind(r: &mut Reader<'_>) -> Result<EventKind, Failure> {
    Ok(match r.u8()? {
        0 => EventKind::ClientCreated {
            client_id: r.str()?,
        },
        1 => EventKind::ClientUpdated {
            client_id: r.str()?,
        },
        2 => EventKind::ClientDeleted {
            client_id: r.str()?,
        },
        3 => EventKind::SecretRotated {
            client_id: r.str()?,
        },
        4 => EventKind::GrantCreated {
            grant_id: r.str()?,
            subject: r.str()?,
            client_id: r.str()?,
        },
        5 => EventKind::ConsentGiven {
            grant_id: r.str()?,
            subject: r.str()?,
            client_id: r.str()?,
            scopes: r.scopes()?,
        },
        6 => EventKind::GrantRevoked {
            grant_id: r.str()?,
            subject: r.str()?,
            client_id: r.str()?,
        },
        7 => EventKind::SubjectRevoked { subject: r.str()? },
        8 => EventKind::FamilyRevoked {
            family_id: r.str()?,
            grant_id: r.str()?,
            client_id: r.str()?,
            reason: get_revocation_reason(r)?,
        },
        9 => EventKind::AccessTokenRevoked {
            client_id: r.str()?,
            subject: r.str()?,
        },
        10 => EventKind::DomainVerified {
            client_id: r.str()?,
            domain: r.str()?,
        },
        11 => EventKind::DomainLapsed {
            client_id: r.str()?,
            domain: r.str()?,
        },
        _ => return Err(Failure::Corrupt("unknown event kind".into())),
    })
}

fn put_audit(w: &mut Writer, a: &Audit) -> bool {
    match &a.actor {
        Actor::User { subject } => {
            w.u8(0);
            w.str(subject);
        }
        Actor::Client { client_id } => {
            w.u8(1);
            w.str(client_id);
        }
        Actor::Operator { id } => {
            w.u8(2);
            w.str(id);
        }
        Actor::System => w.u8(3),
        _ => return false,
    }
    match a.source.address() {
        None => w.u8(0),
        Some(IpAddr::V4(v4)) => {
            w.u8(4);
            w.0.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            w.u8(6);
            w.0.extend_from_slice(&v6.octets());
        }
    }
    w.opt(a.source.user_agent(), Writer::str);
    true
}

fn get_audit(r: &mut Reader<'_>) -> Result<Audit, Failure> {
    let actor = match r.u8()? {
        0 => Actor::User { subject: r.str()? },
        1 => Actor::Client {
            client_id: r.str()?,
        },
        2 => Actor::Operator { id: r.str()? },
        3 => Actor::System,
        _ => return Err(Failure::Corrupt("unknown actor".into())),
    };
    let address = match r.u8()? {
        0 => None,
        4 => {
            let mut o = [0u8; 4];
            for b in &mut o {
                *b = r.u8()?;
            }
            Some(IpAddr::from(o))
        }
        6 => {
            let mut o = [0u8; 16];
            for b in &mut o {
                *b = r.u8()?;
            }
            Some(IpAddr::from(o))
        }
        _ => return Err(Failure::Corrupt("unknown address family".into())),
    };
    let user_agent = r.opt(Reader::str)?;
    Ok(Audit::new(
        actor,
        Source::new(address, user_agent.as_deref()),
    ))
}

impl Record for Event {
    fn put(&self, w: &mut Writer) -> bool {
        w.uint(self.seq);
        w.time(self.at);
        if !put_kind(w, &self.kind) {
            return false;
        }
        match &self.audit {
            None => w.u8(0),
            Some(a) => {
                w.u8(1);
                if !put_audit(w, a) {
                    return false;
                }
            }
        }
        true
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Failure> {
        Ok(Event {
            seq: r.uint()?,
            at: r.time()?,
            kind: get_kind(r)?,
            audit: r.opt(get_audit)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use latchkey::clock::Timestamp;
    use latchkey::scope::ScopeSet;

    use super::*;
    use crate::codec::{decode, encode, COMPACT_V1};

    fn round_trip<T: Record + PartialEq + std::fmt::Debug>(v: &T) {
        let bytes = encode(v).expect("encode");
        assert_eq!(bytes[0], COMPACT_V1, "{v:?} has a compact layout");
        assert_eq!(&decode::<T>(&bytes).expect("decode"), v);
        // Every cut short of the whole record is refused, never misread.
        for n in 1..bytes.len() {
            assert!(
                decode::<T>(&bytes[..n]).is_err(),
                "{n} of {} bytes",
                bytes.len()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<T>(&longer).is_err(), "a trailing byte is refused");
    }

    #[test]
    fn every_event_kind_and_audit_round_trips() {
        let s = ScopeSet::parse("a b:c").expect("scopes");
        let kinds = vec![
            EventKind::ClientCreated {
                client_id: "c".into(),
            },
            EventKind::ClientUpdated {
                client_id: "c".into(),
            },
            EventKind::ClientDeleted {
                client_id: "c".into(),
            },
            EventKind::SecretRotated {
                client_id: "c".into(),
            },
            EventKind::GrantCreated {
                grant_id: "g".into(),
                subject: "u".into(),
                client_id: "c".into(),
            },
            EventKind::ConsentGiven {
                grant_id: "g".into(),
                subject: "u".into(),
                client_id: "c".into(),
                scopes: s,
            },
            EventKind::GrantRevoked {
                grant_id: "g".into(),
                subject: "u".into(),
                client_id: "c".into(),
            },
            EventKind::SubjectRevoked {
                subject: "u".into(),
            },
            EventKind::FamilyRevoked {
                family_id: "f".into(),
                grant_id: "g".into(),
                client_id: "c".into(),
                reason: RevocationReason::SubjectRevoked,
            },
            EventKind::AccessTokenRevoked {
                client_id: "c".into(),
                subject: "u".into(),
            },
            EventKind::DomainVerified {
                client_id: "c".into(),
                domain: "d.example".into(),
            },
            EventKind::DomainLapsed {
                client_id: "c".into(),
                domain: "d.example".into(),
            },
        ];
        let audits = [
            None,
            Some(Audit::system()),
            Some(Audit::user(
                "alice",
                Source::new(Some([192, 0, 2, 1].into()), Some("Firefox/1")),
            )),
            Some(Audit::client(
                "c",
                Source::new(Some("2001:db8::1".parse().expect("v6")), None),
            )),
            Some(Audit::new(
                Actor::Operator { id: "ops".into() },
                Source::new(None, Some("cli")),
            )),
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            for audit in &audits {
                round_trip(&Event {
                    seq: 1 << (i * 5),
                    at: Timestamp(1_700_000_000 + i as u64),
                    kind: kind.clone(),
                    audit: audit.clone(),
                });
            }
        }
    }

    #[test]
    fn every_code_status_and_revocation_reason_round_trips() {
        let base = CodeRecord {
            hash: TokenHash([9; 32]),
            client_id: "c".into(),
            grant_id: "g".into(),
            subject: "u".into(),
            redirect_uri: "https://a.example/cb".into(),
            redirect_uri_explicit: true,
            scopes: ScopeSet::parse("a").expect("scopes"),
            resources: vec!["https://api.example/".into(), "urn:x".into()],
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            issued_at: Timestamp(1),
            expires_at: Timestamp(u64::MAX),
            failed_attempts: u32::MAX,
            status: CodeStatus::Unused,
        };
        for status in [
            CodeStatus::Unused,
            CodeStatus::Burned,
            CodeStatus::Redeemed {
                family_id: String::new(),
            },
            CodeStatus::Redeemed {
                family_id: "f".into(),
            },
        ] {
            round_trip(&CodeRecord {
                status,
                ..base.clone()
            });
        }
        let family = FamilyRecord {
            id: "f".into(),
            grant_id: "g".into(),
            client_id: "c".into(),
            subject: "u".into(),
            scopes: ScopeSet::new(),
            resources: vec![],
            generation: 7,
            current: RefreshGeneration {
                hash: TokenHash([1; 32]),
                issued_at: Timestamp(2),
                expires_at: Timestamp(3),
            },
            previous: None,
            created_at: Timestamp(0),
            expires_at: Timestamp(3),
            revoked: None,
        };
        round_trip(&family);
        for reason in [
            RevocationReason::RefreshReuse,
            RevocationReason::CodeReplay,
            RevocationReason::Requested,
            RevocationReason::GrantRevoked,
            RevocationReason::ClientDeleted,
            RevocationReason::SubjectRevoked,
        ] {
            round_trip(&FamilyRecord {
                previous: Some(PreviousGeneration {
                    hash: TokenHash([2; 32]),
                    rotated_at: Timestamp(2),
                    sealed_successor: vec![0xab; 300],
                }),
                revoked: Some(Revocation {
                    at: Timestamp(5),
                    reason,
                }),
                ..family.clone()
            });
        }
    }
}
