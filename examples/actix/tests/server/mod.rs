//! The actix-web server under test, for the shared suite in
//! `examples/suite`.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;

use actix_web::middleware::from_fn;
use latchkey::http::HttpResponse;
use latchkey_demo::App;

/// The example's binary.
pub const EXE: &str = env!("CARGO_BIN_EXE_latchkey-example-actix");

/// A server running in this process; dropping it stops it.
pub struct Running {
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Sends the stop command; the workers wind down on their own.
        drop(self.handle.stop(false));
        self.task.abort();
    }
}

/// Serves `app` on `listener` as the binary does (one worker); with
/// `boom`, also a `/boom` route whose handler panics (inside the same
/// middleware).
pub fn serve(app: Arc<App>, listener: std::net::TcpListener, boom: bool) -> Running {
    let services = latchkey_example_actix::Services::new(app);
    let server = actix_web::HttpServer::new(move || {
        let mut a = actix_web::App::new().wrap(from_fn(latchkey_example_actix::catch_panic));
        if boom {
            async fn boom() -> HttpResponse {
                panic!("boom")
            }
            a = a.route("/boom", actix_web::web::get().to(boom));
        }
        a.configure(|cfg| services.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    let task = tokio::spawn(async move {
        server.await.expect("serve");
    });
    Running { handle, task }
}
