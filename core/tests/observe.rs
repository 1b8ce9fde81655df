//! The security signals an operator alerts on are counted: a replayed
//! code, reused and coalesced refresh tokens, failed client
//! authentications, an unreachable store.

mod common;

use std::sync::Arc;

use latchkey::http::HttpRequest;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use common::faulty::Faulty;
use common::*;

fn counter(snapshot: &[(String, u64)], name: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .sum()
}

fn counters(recorder: &DebuggingRecorder) -> Vec<(String, u64)> {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(k, _, _, v)| match v {
            DebugValue::Counter(n) => Some((k.key().name().to_owned(), n)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn security_signals_are_counted() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let h = harness().await;

    let code = h.code_for("profile:read", false).await;
    assert_eq!(h.exchange(&code).await.status, 200);
    assert_eq!(h.exchange(&code).await.status, 400, "replayed");

    let (_, rt) = h.tokens("profile:read").await;
    assert_eq!(h.refresh(&rt, &[]).await.status, 200);
    assert_eq!(h.refresh(&rt, &[]).await.status, 200, "coalesced retry");
    h.clock.advance(3600);
    assert_eq!(
        h.refresh(&rt, &[]).await.status,
        400,
        "reuse after the grace"
    );

    let wrong = basic(&h.app.client.id, "wrong");
    let req = HttpRequest::form_post(&[("token", "x")]).with_header("Authorization", &wrong);
    assert_eq!(h.engine.introspect(&req).await.status, 401);

    let c = counters(&recorder);
    assert_eq!(counter(&c, "latchkey_code_replay_total"), 1, "{c:?}");
    assert_eq!(counter(&c, "latchkey_refresh_coalesced_total"), 1, "{c:?}");
    assert_eq!(counter(&c, "latchkey_refresh_reuse_total"), 1, "{c:?}");
    assert_eq!(
        counter(&c, "latchkey_client_auth_failures_total"),
        1,
        "{c:?}"
    );
    assert_eq!(
        counter(&c, "latchkey_storage_unavailable_total"),
        0,
        "{c:?}"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_counted() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let faulty = Arc::new(Faulty::default());
    let h = harness_on(faulty.clone()).await;
    faulty.set(1);
    let r = h.exchange("lk_ac_whatever").await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(counter(&counters(&recorder), "latchkey_storage_unavailable_total") >= 1);
}
