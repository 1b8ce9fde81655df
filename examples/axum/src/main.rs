//! `cargo run -p latchkey-example-axum`: the demo server in axum, until
//! Ctrl-C.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    latchkey_demo::main(|app, listener| async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, latchkey_example_axum::router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
    .await
}
