//! Access-token signing keys on PostgreSQL. The unique index on `slot`
//! keeps one active and one pending key; promotion locks every key row
//! (a handful) and applies the shared rule.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::jwt::{SigningKeyRecord, SigningKeyState};
use latchkey::storage::{rules, SigningKeyStore, StorageResult};

use super::PgStore;
use crate::codec::{bind_signing_key, signing_key_cols, signing_key_from, ts};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn promote_once(
        &self,
        next: &str,
        previous: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        // After waiting for a concurrent promotion's locks, FOR UPDATE
        // reads the rows as that promotion left them, so it is refused.
        let rows = sqlx::query(concat!(
            "SELECT ",
            signing_key_cols!(),
            " FROM lk_signing_keys ORDER BY created_at, kid FOR UPDATE"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let keys = rows
            .iter()
            .map(signing_key_from)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(changed) = rules::promote_signing_key(&keys, next, previous, now) else {
            tx.rollback().await?;
            return Ok(false);
        };
        // The retiring key first: it frees the `active` slot.
        for k in &changed {
            sqlx::query(
                "UPDATE lk_signing_keys SET state = $2, state_since = $3, slot = $4 WHERE kid = $1",
            )
            .bind(&k.kid)
            .bind(k.state.as_str())
            .bind(ts(k.state_since))
            .bind(k.state.slot())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl SigningKeyStore for PgStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        retrying!(async {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_signing_keys (",
                signing_key_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ));
            bind_signing_key(q, key).execute(&self.pool).await?;
            Ok::<_, DbError>(())
        })
    }

    async fn list_signing_keys(&self) -> StorageResult<Vec<SigningKeyRecord>> {
        retrying!(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                signing_key_cols!(),
                " FROM lk_signing_keys ORDER BY created_at, kid"
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
                "UPDATE lk_signing_keys SET state = $2, state_since = $3, sealed_private = $4, \
                 slot = NULL WHERE kid = $1 AND state = 'retiring'",
            )
            .bind(kid)
            .bind(SigningKeyState::Retired.as_str())
            .bind(ts(now))
            .bind(Vec::<u8>::new())
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n == 1)
        })
    }
}
