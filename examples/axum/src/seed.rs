//! Seeded first-party clients: `--clients FILE` is a JSON array of
//! [`ClientRegistration`]s, upserted at every start so automation can
//! configure clients without clicking through the console.
//!
//! The file is authoritative for every field it can state: an existing
//! client is updated to match it, an unchanged one is left alone (no
//! revision bump, no event), and a missing one is registered.

use std::path::Path;

use latchkey::clients::{
    validate_client, ClientRegistration, ClientUpdate, MIN_PROVIDED_SECRET_LEN,
};
use latchkey::clock::{Clock as _, SystemClock};
use latchkey::entropy::SystemEntropy;
use latchkey::model::{
    AuthMethod, ClientRecord, EventKind, GrantType, NewEvent, SecretHashes, Visibility,
};
use latchkey::storage::Storage;
use latchkey::token::TokenKind;
use latchkey::{Engine, Error, Keyring, ScopeSet, Secret};

/// Fields a seed entry may have: serde would silently ignore a misspelt
/// one, and a silently ignored `redirect_uris` is a confusing afternoon.
const FIELDS: &[&str] = &[
    "id",
    "owner",
    "name",
    "redirect_uris",
    "grant_types",
    "scopes",
    "resources",
    "served_resources",
    "auth_method",
    "visibility",
    "lifetimes",
    "secret",
];

/// What happened to one seeded client.
#[derive(Debug)]
pub enum Seeded {
    /// Registered now; `secret` is set when the engine generated it (the
    /// operator sees it this once).
    Created {
        /// Client id.
        id: String,
        /// Generated secret, if any.
        secret: Option<Secret>,
    },
    /// Changed to match the file; `secret` as for `Created`.
    Updated {
        /// Client id.
        id: String,
        /// Generated secret, if any.
        secret: Option<Secret>,
    },
    /// Already as the file says.
    Unchanged {
        /// Client id.
        id: String,
    },
}

/// Reads and checks the seed file.
///
/// # Errors
/// A message naming the file and the problem.
pub fn load(path: &Path) -> Result<Vec<ClientRegistration>, String> {
    let what = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{what}: {e}"))?;
    let raw: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&text)
        .map_err(|e| format!("{what}: expected a JSON array of objects: {e}"))?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        if let Some(k) = entry.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!("{what}: client #{i}: unknown field {k:?}"));
        }
        let reg: ClientRegistration = serde_json::from_value(serde_json::Value::Object(entry))
            .map_err(|e| format!("{what}: client #{i}: {e}"))?;
        if reg.id.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "{what}: client #{i}: seeded clients need a fixed \"id\" so restarts update them"
            ));
        }
        out.push(reg);
    }
    Ok(out)
}

/// Upserts every registration. `keys` must hold the engine's server key:
/// it hashes operator-provided secrets for existing clients (see
/// [`write_credentials`]).
///
/// # Errors
/// The first engine error, prefixed with the client id.
pub async fn upsert_all<S: Storage + 'static>(
    engine: &Engine<S>,
    keys: &Keyring,
    regs: Vec<ClientRegistration>,
) -> Result<Vec<Seeded>, String> {
    let mut out = Vec::with_capacity(regs.len());
    for reg in regs {
        let id = reg.id.clone().unwrap_or_default();
        out.push(
            upsert(engine, keys, reg)
                .await
                .map_err(|e| format!("seeding client {id}: {e}"))?,
        );
    }
    Ok(out)
}

fn grant_types(reg: &ClientRegistration) -> Vec<GrantType> {
    // The engine's default for an empty list, so comparisons see the same.
    if reg.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        reg.grant_types.clone()
    }
}

/// Registers or updates one client to match `reg`.
///
/// # Errors
/// Validation and storage errors.
pub async fn upsert<S: Storage + 'static>(
    engine: &Engine<S>,
    keys: &Keyring,
    reg: ClientRegistration,
) -> Result<Seeded, Error> {
    let id = reg.id.clone().unwrap_or_default();
    let Some(existing) = engine.store().get_client(&id).await? else {
        let generated = reg.secret.is_none();
        let r = engine.register_client(reg).await?;
        return Ok(Seeded::Created {
            id,
            secret: r.secret.filter(|_| generated),
        });
    };
    let auth = reg.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
    let secret_differs = match (&reg.secret, &existing.secret) {
        (Some(s), Some(h)) => !keys.matches(s, &h.current),
        (Some(_), None) => true,
        (None, h) => auth.is_confidential() != h.is_some(),
    };
    if existing.owner != reg.owner || existing.auth_method != auth || secret_differs {
        let secret = write_credentials(engine, keys, existing, &reg, auth).await?;
        return Ok(Seeded::Updated { id, secret });
    }
    let update = diff(&existing, &reg)?;
    if update == ClientUpdate::default() {
        return Ok(Seeded::Unchanged { id });
    }
    engine.update_client(&id, update).await?;
    Ok(Seeded::Updated { id, secret: None })
}

/// The fields of `reg` that differ from `c`, as an engine update.
fn diff(c: &ClientRecord, reg: &ClientRegistration) -> Result<ClientUpdate, Error> {
    fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<T> {
        (old != new).then(|| new.clone())
    }
    let scopes = ScopeSet::from_tokens(reg.scopes.clone())?;
    Ok(ClientUpdate {
        name: changed(&c.name, &reg.name),
        redirect_uris: changed(&c.redirect_uris, &reg.redirect_uris),
        grant_types: changed(&c.grant_types, &grant_types(reg)),
        scopes: (c.scopes != scopes).then(|| reg.scopes.clone()),
        resources: changed(&c.resources, &reg.resources),
        served_resources: changed(&c.served_resources, &reg.served_resources),
        visibility: changed(
            &c.visibility,
            &reg.visibility.unwrap_or(Visibility::Private),
        ),
        lifetimes: changed(&c.lifetimes, &reg.lifetimes),
    })
}

/// Rewrites a client whose owner, auth method or secret changed.
///
/// WORKAROUND for a missing core API: `Engine::update_client` cannot change
/// `owner`, `auth_method` or set an operator-provided secret, and
/// `rotate_client_secret` only generates one. So this builds the record the
/// engine would, checks it with the engine's own `validate_client`, and
/// writes it through the storage contract's compare-and-swap with the same
/// `client_updated` event. Core should grow `ClientUpdate::{owner,
/// auth_method, secret}` (or `Engine::upsert_client`); then this goes away.
async fn write_credentials<S: Storage + 'static>(
    engine: &Engine<S>,
    keys: &Keyring,
    mut c: ClientRecord,
    reg: &ClientRegistration,
    auth: AuthMethod,
) -> Result<Option<Secret>, Error> {
    let meta = |m: &str| Error::InvalidClientMetadata(m.to_owned().into());
    let mut generated = None;
    c.secret = match (auth.is_confidential(), &reg.secret) {
        (false, Some(_)) => return Err(meta("public clients (auth method none) have no secret")),
        (false, None) => None,
        (true, Some(s)) if s.len() < MIN_PROVIDED_SECRET_LEN => {
            return Err(meta("provided secrets must be at least 43 characters"))
        }
        (true, Some(s)) => Some(SecretHashes {
            current: keys.digest(s),
            previous: None,
            previous_until: None,
        }),
        (true, None) => match c.secret.take() {
            Some(h) => Some(h),
            None => {
                let (s, _) = keys.mint(TokenKind::ClientSecret, &SystemEntropy::new())?;
                let h = keys.digest(s.expose());
                generated = Some(s);
                Some(SecretHashes {
                    current: h,
                    previous: None,
                    previous_until: None,
                })
            }
        },
    };
    let now = SystemClock.now();
    c.owner.clone_from(&reg.owner);
    c.auth_method = auth;
    c.name.clone_from(&reg.name);
    c.redirect_uris.clone_from(&reg.redirect_uris);
    c.grant_types = grant_types(reg);
    c.scopes = ScopeSet::from_tokens(reg.scopes.clone())?;
    c.resources.clone_from(&reg.resources);
    c.served_resources.clone_from(&reg.served_resources);
    c.visibility = reg.visibility.unwrap_or(Visibility::Private);
    c.lifetimes = reg.lifetimes;
    c.updated_at = now;
    c.revision += 1;
    validate_client(&c, &engine.config().scopes)?;
    let ev = NewEvent {
        at: now,
        kind: EventKind::ClientUpdated {
            client_id: c.id.clone(),
        },
    };
    engine.store().update_client(&c, &[ev]).await?;
    Ok(generated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use latchkey::{EngineConfig, MemoryStore};

    const SECRET_A: &str = "seed-secret-a-0123456789-abcdefghijklmnopqrstuvwxyz";
    const SECRET_B: &str = "seed-secret-b-0123456789-abcdefghijklmnopqrstuvwxyz";

    fn engine() -> (Engine<MemoryStore>, Keyring) {
        let key = [9u8; 32];
        let config = EngineConfig::new("http://127.0.0.1:1", crate::config::demo_scopes());
        let engine = Engine::new(
            Arc::new(MemoryStore::new()),
            config,
            crate::keyfile::keyring(&key),
        );
        (engine, crate::keyfile::keyring(&key))
    }

    fn reg(name: &str, secret: Option<&str>) -> ClientRegistration {
        ClientRegistration {
            id: Some("seeded".into()),
            owner: "demo".into(),
            name: name.into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            scopes: vec!["profile:read".into()],
            secret: secret.map(str::to_owned),
            ..ClientRegistration::default()
        }
    }

    async fn stored(e: &Engine<MemoryStore>) -> ClientRecord {
        e.get_client("seeded").await.unwrap()
    }

    #[tokio::test]
    async fn upsert_creates_then_leaves_alone_then_updates() {
        let (e, keys) = engine();
        let r = upsert(&e, &keys, reg("One", Some(SECRET_A))).await.unwrap();
        assert!(matches!(r, Seeded::Created { secret: None, .. }));
        let rev = stored(&e).await.revision;
        let r = upsert(&e, &keys, reg("One", Some(SECRET_A))).await.unwrap();
        assert!(matches!(r, Seeded::Unchanged { .. }));
        assert_eq!(
            stored(&e).await.revision,
            rev,
            "no-op restarts bump nothing"
        );

        let r = upsert(&e, &keys, reg("Two", Some(SECRET_A))).await.unwrap();
        assert!(matches!(r, Seeded::Updated { secret: None, .. }));
        assert_eq!(stored(&e).await.name, "Two");

        // A new operator secret replaces the old one at once.
        upsert(&e, &keys, reg("Two", Some(SECRET_B))).await.unwrap();
        let c = stored(&e).await;
        let h = c.secret.unwrap().current;
        assert!(keys.matches(SECRET_B, &h) && !keys.matches(SECRET_A, &h));

        // Switching to a public client drops the secret.
        let mut public = reg("Two", None);
        public.auth_method = Some(AuthMethod::None);
        upsert(&e, &keys, public).await.unwrap();
        let c = stored(&e).await;
        assert_eq!(c.auth_method, AuthMethod::None);
        assert!(c.secret.is_none());

        // And back to confidential without a secret: one is generated.
        let r = upsert(&e, &keys, reg("Two", None)).await.unwrap();
        let Seeded::Updated {
            secret: Some(s), ..
        } = r
        else {
            panic!("expected a generated secret, got {r:?}")
        };
        assert!(keys.matches(s.expose(), &stored(&e).await.secret.unwrap().current));
    }

    #[tokio::test]
    async fn invalid_seeds_are_refused() {
        let (e, keys) = engine();
        assert!(upsert(&e, &keys, reg("x", Some("short"))).await.is_err());
        let mut bad = reg("x", Some(SECRET_A));
        bad.scopes = vec!["nope".into()];
        assert!(upsert(&e, &keys, bad).await.is_err());
        upsert(&e, &keys, reg("x", Some(SECRET_A))).await.unwrap();
        assert!(upsert(&e, &keys, reg("x", Some("short"))).await.is_err());
    }

    #[test]
    fn load_rejects_typos_and_missing_ids() {
        let dir = std::env::temp_dir().join(format!("latchkey-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.json");
        std::fs::write(
            &f,
            r#"[{"id":"a","owner":"o","name":"n","redirect_uri":["x"]}]"#,
        )
        .unwrap();
        assert!(load(&f).unwrap_err().contains("redirect_uri"));
        std::fs::write(&f, r#"[{"owner":"o","name":"n"}]"#).unwrap();
        assert!(load(&f).unwrap_err().contains("id"));
        std::fs::write(
            &f,
            r#"[{"id":"a","owner":"o","name":"n","auth_method":"none"}]"#,
        )
        .unwrap();
        assert_eq!(load(&f).unwrap()[0].id.as_deref(), Some("a"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
