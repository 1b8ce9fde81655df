//! # latchkey-sqlx
//!
//! SQL storage for [Latchkey](latchkey): PostgreSQL (feature `postgres`),
//! MySQL 8 / MariaDB 10.11+ (feature `mysql`) and SQLite (feature
//! `sqlite`), through sqlx. Each dialect has its own store type
//! implementing every [`latchkey::storage`] trait.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod error;
pub mod migrate;

#[cfg(feature = "postgres")]
pub mod postgres;

pub use migrate::{MigrateOptions, MigrateReport, Migration};
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
/// The sqlx version this crate is built on, for pool and connection options.
pub use sqlx;
