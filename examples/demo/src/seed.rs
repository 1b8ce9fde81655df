//! Seeded first-party clients: the built-in demo clients
//! ([`demo_clients`], unless `--no-demo-clients`), then `--clients FILE`, a
//! JSON array of [`ClientRegistration`]s, upserted at every start so
//! automation can configure clients without clicking through the console.
//!
//! The file is authoritative for every field it can state: an existing
//! client is updated to match it, an unchanged one is left alone (no
//! revision bump, no event), and a missing one is registered.

use std::path::Path;

use latchkey::clients::{ClientRegistration, UpsertOutcome};
use latchkey::model::{AuthMethod, GrantType, Visibility};
use latchkey::storage::Storage;
use latchkey::{Acting, Engine, Secret, Source};

use crate::config::{Config, DEMO_ACCOUNT};

/// The built-in demo client the `/demo` page drives: public (PKCE, no
/// secret), redirecting to this server's `/demo/callback`.
pub const DEMO_APP_ID: &str = "demo-app";
/// The built-in public client for trying the flow by hand (curl, a CLI):
/// any `http://127.0.0.1:PORT/callback` (RFC 8252 §7.3).
pub const DEMO_CLI_ID: &str = "demo-cli";

/// The built-in demo clients of a server with `issuer`, both private to
/// the demo account.
#[must_use]
pub fn demo_clients(issuer: &str) -> Vec<ClientRegistration> {
    let client = |id: &str, name: &str, redirect: String, scopes: &[&str]| ClientRegistration {
        id: Some(id.into()),
        owner: DEMO_ACCOUNT.into(),
        name: name.into(),
        redirect_uris: vec![redirect],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        auth_method: Some(AuthMethod::None),
        visibility: Some(Visibility::Private),
        ..ClientRegistration::default()
    };
    let all = [
        "profile:read",
        "dns:read",
        "dns:edit",
        "zones:read",
        "offline_access",
    ];
    vec![
        client(
            DEMO_APP_ID,
            "Demo app",
            format!("{issuer}/demo/callback"),
            &all,
        ),
        ClientRegistration {
            // Also signs in without a browser of its own (RFC 8628).
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ],
            ..client(
                DEMO_CLI_ID,
                "Demo CLI",
                "http://127.0.0.1/callback".into(),
                &["profile:read", "zones:read", "offline_access"],
            )
        },
    ]
}

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

/// Upserts the built-in demo clients (unless `--no-demo-clients`) and the
/// `--clients` file, each bound to the demo API when it names no resource,
/// and says on stderr what happened to each. A generated secret is printed
/// there once: the only time it exists in the clear.
///
/// # Errors
/// A message saying which file or client failed.
pub async fn seed<S: Storage + ?Sized + 'static>(
    engine: &Engine<S>,
    config: &Config,
) -> Result<(), String> {
    let mut regs = Vec::new();
    if config.demo_clients {
        regs.extend(demo_clients(&config.issuer));
    }
    if let Some(path) = &config.clients_file {
        regs.extend(load(path)?);
    }
    for reg in &mut regs {
        // Tokens are audience-bound: a client that names no resource gets
        // the demo API, the only resource this server protects.
        if reg.resources.is_empty() {
            reg.resources = vec![config.resource()];
        }
    }
    for s in upsert_all(engine, regs).await? {
        match s {
            Seeded::Created {
                id,
                secret: Some(secret),
            }
            | Seeded::Updated {
                id,
                secret: Some(secret),
            } => eprintln!(
                "seeded client {id}: generated secret (shown once): {}",
                secret.expose()
            ),
            Seeded::Created { id, .. } => eprintln!("seeded client {id}: created"),
            Seeded::Updated { id, .. } => eprintln!("seeded client {id}: updated"),
            Seeded::Unchanged { id } => eprintln!("seeded client {id}: unchanged"),
        }
    }
    Ok(())
}

/// Upserts every registration through [`Engine::upsert_client`].
///
/// # Errors
/// The first engine error, prefixed with the client id.
pub async fn upsert_all<S: Storage + ?Sized + 'static>(
    engine: &Engine<S>,
    regs: Vec<ClientRegistration>,
) -> Result<Vec<Seeded>, String> {
    let mut out = Vec::with_capacity(regs.len());
    for reg in regs {
        let id = reg.id.clone().unwrap_or_default();
        let r = engine
            .upsert_client(&Acting::operator("seed", Source::default()), reg)
            .await
            .map_err(|e| format!("seeding client {id}: {e}"))?;
        out.push(match r.outcome {
            UpsertOutcome::Created => Seeded::Created {
                id,
                secret: r.secret,
            },
            UpsertOutcome::Unchanged => Seeded::Unchanged { id },
            _ => Seeded::Updated {
                id,
                secret: r.secret,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
