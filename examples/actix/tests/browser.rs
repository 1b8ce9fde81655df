//! The shared suite's `browser` scenarios (`examples/suite/browser.rs`) against
//! the actix-web server.

#[path = "../../suite/browser.rs"]
mod browser;
#[path = "../../suite/common.rs"]
mod common;
mod server;
