//! Access-token signing keys on MySQL/MariaDB and SQLite. The unique index
//! on `slot` keeps one active and one pending key; promotion locks every
//! key row (MySQL) or the database (SQLite) and applies the shared rule.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::jwt::{SigningKeyRecord, SigningKeyState};
use latchkey::storage::{rules, SigningKeyStore, StorageResult};

use super::Affected as _;
use crate::codec::{bind_signing_key, signing_key_cols, signing_key_from, ts};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        async fn promote_once(
            &self,
            next: &str,
            previous: Option<&str>,
            now: Timestamp,
        ) -> Result<bool, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            let sql = format!(
                concat!("SELECT ", signing_key_cols!(), " FROM lk_signing_keys ORDER BY created_at, kid{}"),
                DB::ROW_LOCK
            );
            let rows = sqlx::query(&sql).fetch_all(&mut *tx).await?;
            let keys = rows.iter().map(signing_key_from).collect::<Result<Vec<_>, _>>()?;
            let Some(changed) = rules::promote_signing_key(&keys, next, previous, now) else {
                tx.rollback().await?;
                return Ok(false);
            };
            // The retiring key first: it frees the `active` slot.
            for k in &changed {
                sqlx::query("UPDATE lk_signing_keys SET state = ?, state_since = ?, slot = ? WHERE kid = ?")
                    .bind(k.state.as_str().to_owned())
                    .bind(ts(k.state_since))
                    .bind(k.state.slot().map(str::to_owned))
                    .bind(k.kid.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl SigningKeyStore for QmarkStore {
        async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
            retrying!(async {
                let q = sqlx::query(concat!(
                    "INSERT INTO lk_signing_keys (",
                    signing_key_cols!(),
                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ));
                bind_signing_key(q, key).execute(&self.pool).await?;
                Ok::<_, DbError>(())
            })
        }

        async fn list_signing_keys(&self) -> StorageResult<Vec<SigningKeyRecord>> {
            retrying!(async {
                let rows = sqlx::query(concat!(
                    "SELECT ", signing_key_cols!(), " FROM lk_signing_keys ORDER BY created_at, kid"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(signing_key_from).collect::<Result<_, _>>()
            })
        }

        async fn promote_signing_key(
            &self,
            next: &str,
            previous: Option<&str>,
            now: Timestamp,
        ) -> StorageResult<bool> {
            retrying!(self.promote_once(next, previous, now))
        }

        async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StorageResult<bool> {
            retrying!(async {
                let n = sqlx::query(
                    "UPDATE lk_signing_keys SET state = ?, state_since = ?, sealed_private = ?, \
                     slot = NULL WHERE kid = ? AND state = 'retiring'",
                )
                .bind(SigningKeyState::Retired.as_str().to_owned())
                .bind(ts(now))
                .bind(Vec::<u8>::new())
                .bind(kid.to_owned())
                .execute(&self.pool)
                .await?
                .affected();
                Ok::<_, DbError>(n == 1)
            })
        }
    }
}
