//! `cargo run -p latchkey-example-axum`: the demo server in axum, until
//! Ctrl-C.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    latchkey_demo::main(|app, listener| async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        // With the peer address, which rate limits key on.
        let app = latchkey_example_axum::router(app)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
    .await
}
