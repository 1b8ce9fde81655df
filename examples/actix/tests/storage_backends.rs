//! The shared suite's `storage_backends` scenarios (`examples/suite/storage_backends.rs`) against
//! the actix-web server.

#[path = "../../suite/common.rs"]
mod common;
mod server;
#[path = "../../suite/storage_backends.rs"]
mod storage_backends;
