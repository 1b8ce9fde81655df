//! The authorization server the shared harness (`examples/suite/common.rs`)
//! starts: the axum example, in this process.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;

use latchkey_demo::App;

/// A server task; dropping it stops the server.
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `app` on `listener` as the axum example's binary does (this
/// harness never asks for the panicking route).
pub fn serve(app: Arc<App>, listener: std::net::TcpListener, _boom: bool) -> Running {
    let router = latchkey_example_axum::router(app);
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    Running(tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    }))
}
