//! Compile-time proof that the public async APIs can be spawned onto a
//! multi-threaded runtime (their futures are `Send`). The storage traits
//! are checked by the conformance suite; these are the inherent methods.

#![allow(dead_code)]

fn is_send<T: Send>(_: &T) {}

#[cfg(feature = "postgres")]
fn postgres(s: &crate::PgStore, o: &crate::MigrateOptions) {
    is_send(&s.migrate());
    is_send(&s.migrate_with(o));
    is_send(&s.claim_events("g", 1, std::time::Duration::from_secs(1)));
    is_send(&s.complete_events("g", &[]));
    is_send(&crate::PgStore::connect("postgres://x"));
}

#[cfg(feature = "mysql")]
fn mysql(s: &crate::MySqlStore, o: &crate::MigrateOptions) {
    is_send(&s.migrate());
    is_send(&s.migrate_with(o));
    is_send(&crate::MySqlStore::connect("mysql://x"));
}

#[cfg(feature = "sqlite")]
fn sqlite(s: &crate::SqliteStore, o: &crate::MigrateOptions) {
    is_send(&s.migrate());
    is_send(&s.migrate_with(o));
    is_send(&crate::SqliteStore::open("x"));
    is_send(&crate::SqliteStore::memory());
}
