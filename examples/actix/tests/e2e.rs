//! The shared suite's `e2e` scenarios (`examples/suite/e2e.rs`) against
//! the actix-web server.

#[path = "../../suite/common.rs"]
mod common;
#[path = "../../suite/e2e.rs"]
mod e2e;
mod server;
