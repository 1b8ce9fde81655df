//! Nothing secret in the logs, in a test binary of its own: `tracing`
//! decides per callsite whether anyone listens, so another test thread
//! without a subscriber could otherwise silence the spans under test.
#![cfg(feature = "axum")]

#[path = "common/axum_app.rs"]
mod axum_app;
mod common;
#[path = "common/router_suite.rs"]
mod suite;

use std::sync::Arc;

use latchkey::http::HttpRequest;

use axum_app::{app, InProcess};
use common::harness;

/// Everything logged during a whole flow (sign-in, consent, code exchange,
/// introspection), at the most verbose level, with every span's fields:
/// not one token, code, challenge, secret or verifier.
#[tokio::test]
async fn no_secret_reaches_the_logs() {
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let h = harness().await;
    suite::complete_code_flow(&InProcess(app(&h)), &h).await;
    // A failed client authentication and a wrong secret are logged too.
    let wrong = common::basic(&h.app.client.id, "not-the-secret-at-all");
    let r = h
        .engine
        .introspect(
            &HttpRequest::form_post(&[("token", "lk_at_x")]).with_header("Authorization", &wrong),
        )
        .await;
    assert_eq!(r.status, 401);
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("latchkey.request"),
        "the spans were recorded:\n{logs}"
    );
    assert!(logs.contains("security signal"), "{logs}");
    let secret = h.app.secret.as_ref().unwrap().expose().to_owned();
    for needle in [
        "lk_at_",
        "lk_rt_",
        "lk_ac_",
        "lk_cc_",
        "lk_cs_",
        common::VERIFIER,
        secret.as_str(),
        "not-the-secret-at-all",
    ] {
        assert!(!logs.contains(needle), "{needle} in the logs:\n{logs}");
    }
}
