//! The shared suite's `browser` scenarios (`examples/suite/browser.rs`) against
//! the axum server.

#[path = "../../suite/browser.rs"]
mod browser;
#[path = "../../suite/common.rs"]
mod common;
mod server;
