//! Seeded first-party clients: `--clients FILE` is a JSON array of
//! [`ClientRegistration`]s, upserted at every start so automation can
//! configure clients without clicking through the console.
//!
//! The file is authoritative for every field it can state: an existing
//! client is updated to match it, an unchanged one is left alone (no
//! revision bump, no event), and a missing one is registered.

use std::path::Path;

use latchkey::clients::{ClientRegistration, UpsertOutcome};
use latchkey::storage::Storage;
use latchkey::{Engine, Secret};

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

/// Upserts every registration through [`Engine::upsert_client`].
///
/// # Errors
/// The first engine error, prefixed with the client id.
pub async fn upsert_all<S: Storage + 'static>(
    engine: &Engine<S>,
    regs: Vec<ClientRegistration>,
) -> Result<Vec<Seeded>, String> {
    let mut out = Vec::with_capacity(regs.len());
    for reg in regs {
        let id = reg.id.clone().unwrap_or_default();
        let r = engine
            .upsert_client(reg)
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
