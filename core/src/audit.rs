//! Who acted, from where: the audit record every outbox event carries, and
//! the roles that decide who may manage an account's apps.
//!
//! Every change the engine appends to the outbox ([`crate::model::Event`])
//! names its [`Audit`]: the [`Actor`] (a signed-in user, a client
//! authenticated at an endpoint, an operator, or the engine's own
//! maintenance) and the [`Source`] of the request that caused it (address
//! and user agent). Protocol endpoints fill it in from the
//! [`HttpRequest`](crate::http::HttpRequest); calls a host makes on a
//! person's behalf (the connected-apps dashboard, a developer console)
//! take it as a parameter.
//!
//! The user agent is attacker-controlled text: [`Source`] keeps at most
//! [`MAX_USER_AGENT_CHARS`] characters, drops control and invisible
//! formatting characters, and blanks anything shaped like one of this
//! server's credentials, so an event never carries a token, secret or
//! code a client pasted into its `User-Agent`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::http::HttpRequest;
use crate::manage_error::ManageError;
use crate::model::ClientRecord;
use crate::token::TokenKind;

/// Most characters of a user agent an event keeps; the rest is cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// Who caused a change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// A signed-in user (consent, the connected-apps dashboard, a
    /// developer console).
    User {
        /// The user's stable identifier (a token's `sub`).
        subject: String,
    },
    /// A client, authenticated at a protocol endpoint (RFC 7009
    /// revocation, the token endpoint) or registering and managing itself
    /// (RFC 7591/7592).
    Client {
        /// Its `client_id`.
        client_id: String,
    },
    /// An operator of the server (a seeding script, an admin tool).
    Operator {
        /// Whatever names the operator to the host (a login, a job name).
        id: String,
    },
    /// The engine itself: maintenance jobs, domain re-checks, purges.
    System,
}

/// Where a request came from: its address and user agent, as far as the
/// host knows them. Both are optional; the user agent is cleaned (see the
/// module docs) however it gets here, including when read back from
/// storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawSource")]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
}

#[derive(Deserialize)]
struct RawSource {
    #[serde(default)]
    address: Option<IpAddr>,
    #[serde(default)]
    user_agent: Option<String>,
}

impl From<RawSource> for Source {
    fn from(r: RawSource) -> Self {
        Source::new(r.address, r.user_agent.as_deref())
    }
}

impl Source {
    /// A source with `address` and a cleaned copy of `user_agent` (`None`
    /// when nothing printable is left).
    #[must_use]
    pub fn new(address: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Source {
            address,
            user_agent: user_agent.and_then(clean_user_agent),
        }
    }

    /// The source of `req`: its [`peer`](HttpRequest::peer) address (which
    /// a host behind a proxy sets from the proxy's header) and its
    /// `User-Agent` header. A repeated or non-UTF-8 header counts as none.
    #[must_use]
    pub fn of(req: &HttpRequest) -> Self {
        Source::new(req.peer, req.header("user-agent").ok().flatten())
    }

    /// The address, if known.
    #[must_use]
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// The cleaned user agent, if any.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

/// What an event records about who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// Who acted.
    pub actor: Actor,
    /// From where.
    #[serde(flatten)]
    pub source: Source,
}

impl Audit {
    /// `actor`, acting from `source`.
    #[must_use]
    pub fn new(actor: Actor, source: Source) -> Self {
        Audit { actor, source }
    }

    /// The engine's own work (maintenance, re-checks): no request.
    #[must_use]
    pub fn system() -> Self {
        Audit::new(Actor::System, Source::default())
    }

    /// A signed-in user, from `source`.
    #[must_use]
    pub fn user(subject: &str, source: Source) -> Self {
        Audit::new(
            Actor::User {
                subject: subject.to_owned(),
            },
            source,
        )
    }

    /// A client, from `source`.
    #[must_use]
    pub fn client(client_id: &str, source: Source) -> Self {
        Audit::new(
            Actor::Client {
                client_id: client_id.to_owned(),
            },
            source,
        )
    }
}

/// Keeps what a log reader can safely see of a user agent: no control,
/// bidirectional or zero-width characters (they could forge log lines or
/// reorder what a console shows), nothing shaped like a credential of this
/// server, at most [`MAX_USER_AGENT_CHARS`] characters, whitespace runs
/// collapsed. `None` when nothing is left.
fn clean_user_agent(raw: &str) -> Option<String> {
    let visible: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect();
    let mut out = String::new();
    for word in visible.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if looks_like_credential(word) {
            "[redacted]"
        } else {
            word
        });
    }
    let out: String = out.chars().take(MAX_USER_AGENT_CHARS).collect();
    let out = out.trim_end().to_owned();
    (!out.is_empty()).then_some(out)
}

/// Formatting characters that change how text around them is shown
/// without showing themselves.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// Whether `word` holds one of this server's credential prefixes, or a
/// JWT (three base64url parts, the first a JSON header).
fn looks_like_credential(word: &str) -> bool {
    TokenKind::ALL.iter().any(|k| word.contains(k.prefix()))
        || word
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .any(|part| part.starts_with("eyJ") && part.split('.').count() == 3)
}

/// What a member of an account may do with its apps (a developer
/// console's roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Everything: register apps, change, rotate and delete any app of the
    /// account.
    Owner,
    /// Register apps; change any app of the account; rotate the secret of,
    /// and delete, only the apps they created.
    Developer,
    /// See the account's apps; change nothing.
    Viewer,
}

/// A change to a client, for [`Acting::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAction {
    /// Registering a new client for the account.
    Register,
    /// Changing metadata or domain verification.
    Update,
    /// Issuing a new secret (which the caller then sees).
    RotateSecret,
    /// Deleting the client with its grants and tokens.
    Delete,
    /// Making a client match a configuration (seeding): operators only,
    /// since it may change the owner.
    Upsert,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Authority {
    Operator,
    Member { account: String, role: Role },
}

/// Who is asking for a change to a client, with what rights, from where.
/// Every client-management call of the [`Engine`](crate::Engine) takes
/// one: the engine refuses what the role does not allow
/// ([`ManageError::Forbidden`]) and records the actor on the event it
/// appends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acting {
    audit: Audit,
    authority: Authority,
}

impl Acting {
    /// An operator of the server: may do anything to any client.
    #[must_use]
    pub fn operator(id: &str, source: Source) -> Self {
        Acting {
            audit: Audit::new(Actor::Operator { id: id.to_owned() }, source),
            authority: Authority::Operator,
        }
    }

    /// User `subject`, a member of `account` with `role`.
    #[must_use]
    pub fn member(subject: &str, account: &str, role: Role, source: Source) -> Self {
        Acting {
            audit: Audit::user(subject, source),
            authority: Authority::Member {
                account: account.to_owned(),
                role,
            },
        }
    }

    /// What the events of this caller's changes record.
    #[must_use]
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Whether this caller may do `action` to `client` (for
    /// [`ClientAction::Register`], the client about to be registered).
    /// The rules, in the library so every host gets them:
    ///
    /// * an operator may do anything;
    /// * a member acts only in their own account: another account's client
    ///   is [`ManageError::NotFound`], as if it did not exist;
    /// * a viewer changes nothing; a developer registers and updates, and
    ///   rotates or deletes only a client whose
    ///   [`created_by`](ClientRecord::created_by) is them; an owner does
    ///   everything in the account;
    /// * [`ClientAction::Upsert`] is for operators only.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] or [`ManageError::NotFound`] as above.
    pub fn check(&self, action: ClientAction, client: &ClientRecord) -> Result<(), ManageError> {
        self.check_owner(action, &client.owner, client.created_by.as_ref())
    }

    /// [`Acting::check`] for a client owned by `owner` and created by
    /// `created_by`, before there is a record (e.g. whether to offer a
    /// registration form at all).
    ///
    /// # Errors
    /// As [`Acting::check`].
    pub fn check_owner(
        &self,
        action: ClientAction,
        owner: &str,
        created_by: Option<&Actor>,
    ) -> Result<(), ManageError> {
        let Authority::Member { account, role } = &self.authority else {
            return Ok(());
        };
        if owner != account {
            return Err(ManageError::NotFound("no such client".into()));
        }
        let created_it = created_by == Some(&self.audit.actor);
        let allowed = match (role, action) {
            (_, ClientAction::Upsert) | (Role::Viewer, _) => false,
            (Role::Owner, _) | (Role::Developer, ClientAction::Register | ClientAction::Update) => {
                true
            }
            (Role::Developer, ClientAction::RotateSecret | ClientAction::Delete) => created_it,
        };
        if allowed {
            Ok(())
        } else {
            Err(ManageError::Forbidden(refusal(*role, action).into()))
        }
    }
}

fn refusal(role: Role, action: ClientAction) -> &'static str {
    match (role, action) {
        (_, ClientAction::Upsert) => "only an operator may upsert clients",
        (Role::Viewer, _) => "viewers cannot change apps",
        (_, ClientAction::RotateSecret) => {
            "only the app's creator or an account owner may rotate its secret"
        }
        (_, ClientAction::Delete) => "only the app's creator or an account owner may delete it",
        _ => "your role does not allow this",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_bounded_and_cleaned() {
        let long = "a".repeat(1000);
        assert_eq!(
            Source::new(None, Some(&long)).user_agent().map(str::len),
            Some(MAX_USER_AGENT_CHARS)
        );
        let s = Source::new(None, Some("Mozilla/5.0\r\nX-Forged: 1\u{202E}gnp.exe\0"));
        assert_eq!(s.user_agent(), Some("Mozilla/5.0 X-Forged: 1gnp.exe"));
        assert_eq!(Source::new(None, Some(" \t\u{200B} ")).user_agent(), None);
    }

    #[test]
    fn credentials_in_a_user_agent_are_blanked() {
        let s = Source::new(
            None,
            Some("curl/8 token=lk_at_abcdef eyJhbGciOi.eyJzdWIi.c2ln lk_cs_x"),
        );
        assert_eq!(
            s.user_agent(),
            Some("curl/8 [redacted] [redacted] [redacted]")
        );
    }

    #[test]
    fn stored_user_agent_is_cleaned_on_read() {
        let s: Source = serde_json::from_str(r#"{"user_agent":"a\u0007b lk_rt_x"}"#).unwrap();
        assert_eq!(s.user_agent(), Some("ab [redacted]"));
    }

    #[test]
    fn audit_round_trips_and_old_shape_reads() {
        let a = Audit::new(
            Actor::Client {
                client_id: "c".into(),
            },
            Source::new(Some("192.0.2.1".parse().unwrap()), Some("ua")),
        );
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(
            text,
            r#"{"actor":{"type":"client","client_id":"c"},"address":"192.0.2.1","user_agent":"ua"}"#
        );
        assert_eq!(serde_json::from_str::<Audit>(&text).unwrap(), a);
        let bare: Audit = serde_json::from_str(r#"{"actor":{"type":"system"}}"#).unwrap();
        assert_eq!(bare, Audit::system());
    }
}
