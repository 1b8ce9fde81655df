//! The shared suite's `shared_sessions` scenarios (`examples/suite/shared_sessions.rs`) against
//! the actix-web server.
#![cfg(feature = "sql")]

#[path = "../../suite/common.rs"]
mod common;
mod server;
#[path = "../../suite/shared_sessions.rs"]
mod shared_sessions;
