//! SQL fragments shared by the PostgreSQL statements.

/// CTE `ev` appending events when `$guard` holds: `$n` events with
/// timestamps `$at` (bigint[]), JSON kinds `$kind` (text[]) and JSON
/// audits `$audit` (text[]), inserted
/// into `lk_events_pending` in their order (readers number them later; see
/// `events.rs`). No lock is taken beyond the new rows.
///
/// The guard is an uncorrelated sub-query, so PostgreSQL evaluates it (and
/// the CTEs it reads, with their row locks) before the first id is drawn:
/// a statement that has to wait for another transaction's row draws its
/// ids after that transaction committed. Guards must reference every CTE
/// that takes a lock another writer could hold.
macro_rules! pg_events {
    ($n:literal, $at:literal, $kind:literal, $audit:literal, $guard:literal) => {
        concat!(
            "ev AS (INSERT INTO lk_events_pending (at, kind, audit) SELECT e.at, e.kind, e.audit FROM unnest(",
            $at,
            "::bigint[], ",
            $kind,
            "::text[], ",
            $audit,
            "::text[]) WITH ORDINALITY AS e(at, kind, audit, ord) WHERE ",
            $n,
            "::bigint > 0 AND ",
            $guard,
            " ORDER BY e.ord RETURNING id) "
        )
    };
}
