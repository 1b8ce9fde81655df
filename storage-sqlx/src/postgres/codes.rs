//! Authorization codes on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::CodeRecord;
use latchkey::storage::{CodeFailure, CodeStore, Issuance, RedeemOutcome, StorageResult};
use latchkey::token::TokenHash;
use sqlx::Row;

use super::{count, PgStore};
use crate::codec::{
    access_fields, bind_access, bind_family, code_cols, code_failure_from, code_from,
    event_columns, family_fields, not_redeemed_from, ts, CODE_BURNED,
};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn redeem_once(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        iss: &Issuance,
    ) -> Result<RedeemOutcome, DbError> {
        let (at, kind, audit) = event_columns(&iss.events)?;
        // $1 code, $2 now, $3..$19 family, $20..$28 access token,
        // $29..$32 events. The grant must still exist: FOR KEY SHARE makes
        // a concurrent revocation either wait for this exchange (and then
        // revoke its family) or win (and the code is invalid).
        let q = sqlx::query(concat!(
            "WITH c AS (UPDATE lk_codes SET status = 'redeemed', family_id = $3 ",
            "WHERE hash = $1 AND status = 'unused' AND expires_at > $2 ",
            "AND EXISTS (SELECT 1 FROM lk_grants g WHERE g.id = lk_codes.grant_id FOR KEY SHARE) ",
            "RETURNING grant_id), ",
            "fam AS (INSERT INTO lk_families (", family_fields!(), ") ",
            "SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM c RETURNING id), ",
            "rt AS (INSERT INTO lk_refresh_tokens (hash, family_id, generation) SELECT $10, $3, $9 FROM c RETURNING hash), ",
            "at AS (INSERT INTO lk_access_tokens (", access_fields!(), ") ",
            "SELECT $20, $21, $22, $23, $24, $25, $26, $27, $28 FROM c RETURNING hash), ",
            "gr AS (UPDATE lk_grants SET last_used_at = $2 WHERE id = (SELECT grant_id FROM c) AND last_used_at < $2 RETURNING id), ",
            // Referencing every CTE makes them run before the counter is
            // locked, so the counter is the last lock taken.
            pg_events!("$29", "$30", "$31", "$32",
                "EXISTS (SELECT 1 FROM c) AND (SELECT count(*) FROM fam) + (SELECT count(*) FROM rt) + (SELECT count(*) FROM at) + (SELECT count(*) FROM gr) >= 0"),
            "SELECT (SELECT count(*) FROM c) AS issued, (SELECT count(*) FROM ev) AS appended"
        ))
        .bind(hash.0.to_vec())
        .bind(ts(now));
        let q = bind_access(bind_family(q, &iss.family)?, &iss.access)?
            .bind(count(iss.events.len()))
            .bind(at)
            .bind(kind)
            .bind(audit);
        let mut conn = self.pool.acquire().await?;
        let row = q.fetch_one(&mut *conn).await?;
        if row.try_get::<i64, _>("issued")? == 1 {
            return Ok(RedeemOutcome::Issued);
        }
        // Lost or invalid: a fresh read tells which (rare path).
        let row = sqlx::query("SELECT status, family_id FROM lk_codes WHERE hash = $1")
            .bind(hash.0.to_vec())
            .fetch_optional(&mut *conn)
            .await?;
        not_redeemed_from(row.as_ref())
    }
}

#[async_trait]
impl CodeStore for PgStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                code_cols!(),
                " FROM lk_codes WHERE hash = $1"
            ))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(code_from).transpose()
        })
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        retrying!(async {
            let row = sqlx::query(
                "UPDATE lk_codes SET failed_attempts = failed_attempts + 1, \
                 status = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE status END \
                 WHERE hash = $1 AND status = 'unused' RETURNING failed_attempts, status",
            )
            .bind(hash.0.to_vec())
            .bind(i64::from(max_failures))
            .bind(CODE_BURNED)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref()
                .map_or(Ok(CodeFailure::NotFound), code_failure_from)
        })
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        issuance: &Issuance,
    ) -> StorageResult<RedeemOutcome> {
        retrying!(self.redeem_once(hash, now, issuance))
    }
}
