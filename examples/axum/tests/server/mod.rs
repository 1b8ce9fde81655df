//! The axum server under test, for the shared suite in `examples/suite`.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;

use latchkey::http::HttpResponse;
use latchkey_demo::App;

/// The example's binary.
pub const EXE: &str = env!("CARGO_BIN_EXE_latchkey-example-axum");

/// A server running in this process; dropping it stops it.
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `app` on `listener` as the binary does; with `boom`, also a
/// `/boom` route whose handler panics (inside the same middleware).
pub fn serve(app: Arc<App>, listener: std::net::TcpListener, boom: bool) -> Running {
    let mut routes = latchkey_example_axum::routes(app);
    if boom {
        async fn boom() -> HttpResponse {
            panic!("boom")
        }
        routes = routes.route("/boom", axum::routing::get(boom));
    }
    let router = latchkey_example_axum::with_middleware(routes);
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    Running(tokio::spawn(async move {
        let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    }))
}
