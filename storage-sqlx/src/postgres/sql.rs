//! SQL fragments shared by the PostgreSQL statements.

/// CTEs `ctr` and `ev` appending events when `$guard` holds: `$n` events
/// with timestamps `$at` (bigint[]) and JSON kinds `$kind` (text[]),
/// numbered from the one-row counter. Only statements that append take the
/// counter's row lock.
macro_rules! pg_events {
    ($n:literal, $at:literal, $kind:literal, $guard:literal) => {
        concat!(
            "ctr AS (UPDATE lk_event_counter SET last_seq = last_seq + ",
            $n,
            "::bigint WHERE id = 1 AND ",
            $n,
            "::bigint > 0 AND ",
            $guard,
            " RETURNING last_seq - ",
            $n,
            "::bigint AS base), ",
            "ev AS (INSERT INTO lk_events (seq, at, kind) SELECT ctr.base + e.ord, e.at, e.kind FROM ctr, unnest(",
            $at,
            "::bigint[], ",
            $kind,
            "::text[]) WITH ORDINALITY AS e(at, kind, ord) RETURNING seq) "
        )
    };
}
