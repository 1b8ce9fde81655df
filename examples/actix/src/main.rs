//! `cargo run -p latchkey-example-actix`: the demo server in actix-web,
//! until Ctrl-C.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use actix_web::middleware::from_fn;

#[tokio::main]
async fn main() -> ExitCode {
    latchkey_demo::main(|app, listener| async move {
        let services = latchkey_example_actix::Services::new(app);
        actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(from_fn(latchkey_example_actix::catch_panic))
                .configure(|cfg| services.configure(cfg))
        })
        .listen(listener)?
        .run()
        .await
    })
    .await
}
