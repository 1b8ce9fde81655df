//! The device authorization grant (RFC 8628) through the engine, with a
//! manual clock: the endpoint, code entry, consent, and every polling
//! answer of §3.5.

mod common;

use std::sync::Arc;

use common::faulty::Faulty;
use common::*;
use latchkey::clients::{ClientRegistration, RegisteredClient};
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::model::{AuthMethod, GrantType};
use latchkey::storage::Storage;
use latchkey::{AuthorizeOutcome, ConsentDecision, MemoryStore};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

struct Device<S: Storage + ?Sized = MemoryStore> {
    h: Harness<S>,
    /// Public, may use the device grant (and refresh).
    tv: RegisteredClient,
}

async fn device_on<S: Storage + ?Sized>(store: Arc<S>) -> Device<S> {
    let (h, tv) = harness_with_device_on(store).await;
    Device { h, tv }
}

async fn device() -> Device {
    device_on(Arc::new(MemoryStore::new())).await
}

impl<S: Storage + ?Sized> Device<S> {
    async fn authorize_device(&self, extra: &[(&str, &str)]) -> HttpResponse {
        let mut pairs = vec![("client_id", self.tv.client.id.as_str())];
        pairs.extend_from_slice(extra);
        self.h
            .engine
            .device_authorization(&HttpRequest::form_post(&pairs))
            .await
    }

    /// Device authorization for `profile:read`: (device code, user code).
    async fn start(&self) -> (String, String) {
        let r = self.authorize_device(&[("scope", "profile:read")]).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        (
            j["device_code"].as_str().unwrap().to_owned(),
            j["user_code"].as_str().unwrap().to_owned(),
        )
    }

    async fn poll_as(&self, client_id: &str, device_code: &str) -> HttpResponse {
        let req = HttpRequest::form_post(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ]);
        self.h.engine.token(&req).await
    }

    async fn poll(&self, device_code: &str) -> HttpResponse {
        self.poll_as(&self.tv.client.id, device_code).await
    }

    /// The user enters `user_code` and is shown the consent prompt.
    async fn prompt(&self, user_code: &str) -> String {
        let challenge = self
            .h
            .engine
            .enter_user_code(user_code, BINDING)
            .await
            .unwrap()
            .expect("a live user code");
        match self
            .h
            .engine
            .resume(
                challenge.expose(),
                BINDING,
                &alice(),
                &latchkey::Source::default(),
            )
            .await
        {
            AuthorizeOutcome::ConsentRequired(p) => p.challenge.expose().to_owned(),
            other => panic!("resume gave {other:?}"),
        }
    }

    async fn approve(&self, user_code: &str) {
        let c = self.prompt(user_code).await;
        let out = self
            .h
            .engine
            .accept(
                &c,
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await;
        assert!(
            matches!(out, AuthorizeOutcome::DeviceDecided { approved: true, .. }),
            "{out:?}"
        );
    }

    fn wait(&self, secs: u64) {
        self.h.clock.advance(secs);
    }
}

#[tokio::test]
async fn the_endpoint_answers_every_field_of_rfc_8628_3_2() {
    let d = device().await;
    let r = d.authorize_device(&[("scope", "profile:read")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json_body();
    assert!(j["device_code"].as_str().unwrap().starts_with("lk_dc_"));
    let user_code = j["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(j["verification_uri"], "https://auth.example/device");
    assert_eq!(
        j["verification_uri_complete"],
        format!("https://auth.example/device?user_code={user_code}")
    );
    assert_eq!(
        (j["expires_in"].as_u64(), j["interval"].as_u64()),
        (Some(600), Some(5))
    );
    let m = d.h.engine.metadata();
    assert_eq!(
        m["device_authorization_endpoint"],
        "https://auth.example/oauth/device_authorization"
    );
    assert!(m["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&DEVICE_GRANT.into()));
}

#[tokio::test]
async fn without_the_grant_enabled_nothing_is_advertised_or_served() {
    let h = harness().await;
    let m = h.engine.metadata();
    assert!(m.get("device_authorization_endpoint").is_none());
    let r = h
        .engine
        .device_authorization(&HttpRequest::form_post(&[("client_id", &h.cli.client.id)]))
        .await;
    assert_eq!(error_code(&r), "unauthorized_client");
}

#[tokio::test]
async fn bad_requests_get_oauth_errors() {
    let d = device().await;
    assert_eq!(
        error_code(&d.authorize_device(&[("scope", "dns:edit")]).await),
        "invalid_scope"
    );
    assert_eq!(
        error_code(&d.authorize_device(&[("scope", "nope")]).await),
        "invalid_scope"
    );
    assert_eq!(
        error_code(
            &d.authorize_device(&[
                ("scope", "profile:read"),
                ("resource", "https://other.example/")
            ])
            .await
        ),
        "invalid_target"
    );
    // A client without the grant, and a confidential one without its secret.
    let r =
        d.h.engine
            .device_authorization(&HttpRequest::form_post(&[
                ("client_id", &d.h.cli.client.id),
                ("scope", "profile:read"),
            ]))
            .await;
    assert_eq!(error_code(&r), "unauthorized_client");
    let r =
        d.h.engine
            .device_authorization(&HttpRequest::form_post(&[
                ("client_id", &d.h.app.client.id),
                ("scope", "profile:read"),
            ]))
            .await;
    assert_eq!(error_code(&r), "invalid_client");
    let get = HttpRequest::get(&[("client_id", &d.tv.client.id)]);
    assert_eq!(d.h.engine.device_authorization(&get).await.status, 405);
}

#[tokio::test]
async fn polling_answers_pending_slow_down_then_tokens_once() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    assert_eq!(error_code(&d.poll(&dc).await), "authorization_pending");
    d.wait(2);
    assert_eq!(error_code(&d.poll(&dc).await), "slow_down");
    // The interval is now 10 s from the last poll.
    d.wait(6);
    assert_eq!(error_code(&d.poll(&dc).await), "slow_down");
    d.wait(15);
    assert_eq!(error_code(&d.poll(&dc).await), "authorization_pending");

    d.approve(&uc).await;
    d.wait(15);
    let r = d.poll(&dc).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json_body();
    assert_eq!(j["scope"], "profile:read");
    assert!(j["access_token"].as_str().unwrap().starts_with("lk_at_"));
    // No offline_access in this registry: the refresh token comes along.
    let rt = j["refresh_token"].as_str().unwrap();

    d.wait(15);
    assert_eq!(
        error_code(&d.poll(&dc).await),
        "invalid_grant",
        "single use"
    );
    let refresh = HttpRequest::form_post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", &d.tv.client.id),
    ]);
    let r = d.h.engine.token(&refresh).await;
    assert_eq!(r.status, 200, "a replayed poll revokes nothing");
}

#[tokio::test]
async fn denial_expiry_and_strangers() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    let c = d.prompt(&uc).await;
    let out = d.h.engine.reject(&c, BINDING).await;
    assert!(matches!(
        out,
        AuthorizeOutcome::DeviceDecided {
            approved: false,
            ..
        }
    ));
    assert_eq!(error_code(&d.poll(&dc).await), "access_denied");
    assert_eq!(d.poll(&dc).await.status, 400);
    assert!(
        d.h.engine
            .enter_user_code(&uc, BINDING)
            .await
            .unwrap()
            .is_none(),
        "a decided code cannot be entered again"
    );

    let (dc, uc) = d.start().await;
    assert_eq!(
        error_code(&d.poll_as(&d.h.cli.client.id, &dc).await),
        "unauthorized_client"
    );
    d.wait(600);
    assert_eq!(error_code(&d.poll(&dc).await), "expired_token");
    assert!(d
        .h
        .engine
        .enter_user_code(&uc, BINDING)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        error_code(&d.poll(&format!("{dc}x")).await),
        "invalid_grant"
    );
    assert_eq!(error_code(&d.poll("lk_dc_nope").await), "invalid_grant");
}

#[tokio::test]
async fn another_clients_device_code_is_invalid_grant_and_changes_nothing() {
    let d = device().await;
    let other =
        d.h.engine
            .register_client(
                &operator(),
                ClientRegistration {
                    owner: "acme".into(),
                    name: "Kitchen radio".into(),
                    grant_types: vec![GrantType::DeviceCode],
                    scopes: vec!["profile:read".into()],
                    auth_method: Some(AuthMethod::None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    let (dc, uc) = d.start().await;
    d.approve(&uc).await;
    assert_eq!(
        error_code(&d.poll_as(&other.client.id, &dc).await),
        "invalid_grant"
    );
    // Not counted as the device's poll: no slow_down for the device.
    assert_eq!(d.poll(&dc).await.status, 200);
}

#[tokio::test]
async fn the_approval_is_bound_to_the_user_and_expires_with_the_code() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    d.approve(&uc).await;
    let grants = d.h.engine.connected_apps("alice").await.unwrap();
    assert!(grants.iter().any(|g| g.client_id == d.tv.client.id));
    d.wait(600);
    assert_eq!(error_code(&d.poll(&dc).await), "expired_token");
}

#[tokio::test]
async fn user_codes_are_typed_forgivingly_and_consent_is_always_asked() {
    let d = device().await;
    let (_, uc) = d.start().await;
    let sloppy = format!(" {} ", uc.to_lowercase().replace('-', " "));
    // Remembered consent does not skip the prompt for a device.
    let c = d.prompt(&sloppy).await;
    let out =
        d.h.engine
            .accept(
                &c,
                BINDING,
                &alice(),
                ConsentDecision {
                    scopes: None,
                    remember: true,
                },
                &latchkey::Source::default(),
            )
            .await;
    assert!(matches!(
        out,
        AuthorizeOutcome::DeviceDecided { approved: true, .. }
    ));
    let (_, uc2) = d.start().await;
    d.prompt(&uc2).await;
    assert!(d
        .h
        .engine
        .enter_user_code("BCDF-GHJK", BINDING)
        .await
        .unwrap()
        .is_none());
    assert!(d
        .h
        .engine
        .enter_user_code("not a code", BINDING)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_code_entered_in_two_browsers_is_approved_once() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    let first = d.prompt(&uc).await;
    let second = d.prompt(&uc).await;
    let accept = |c: String| {
        let e = d.h.engine.clone();
        async move {
            e.accept(
                &c,
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await
        }
    };
    assert!(matches!(
        accept(first).await,
        AuthorizeOutcome::DeviceDecided { approved: true, .. }
    ));
    assert!(matches!(
        accept(second).await,
        AuthorizeOutcome::ShowError(_)
    ));
    assert_eq!(d.poll(&dc).await.status, 200);
}

/// "Not you? Switch account" on a device's consent: the challenge is used
/// up and the browser goes back to the code-entry page; the code still
/// works for the next user, and the device still gets its tokens.
#[tokio::test]
async fn switching_account_sends_the_user_back_to_code_entry() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    let first = d.prompt(&uc).await;
    let again = d.h.engine.restart(&first, BINDING).await.unwrap();
    assert_eq!(again, "/device");
    assert!(
        d.h.engine.restart(&first, BINDING).await.is_err(),
        "used up"
    );
    let refused =
        d.h.engine
            .accept(
                &first,
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await;
    assert!(matches!(refused, AuthorizeOutcome::ShowError(_)));
    assert_eq!(error_code(&d.poll(&dc).await), "authorization_pending");
    d.approve(&uc).await;
    d.wait(5);
    assert_eq!(d.poll(&dc).await.status, 200);
}

#[tokio::test]
async fn concurrent_polls_issue_tokens_exactly_once() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    d.approve(&uc).await;
    let e = d.h.engine.clone();
    let id = d.tv.client.id.clone();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (e, id, dc) = (e.clone(), id.clone(), dc.clone());
            tokio::spawn(async move {
                let req = HttpRequest::form_post(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &dc),
                    ("client_id", &id),
                ]);
                e.token(&req).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 200 {
            ok += 1;
        } else {
            assert!(["slow_down", "invalid_grant"].contains(&error_code(&r).as_str()));
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn storage_failures_are_server_errors_and_bad_input_changes_nothing() {
    let store = Arc::new(Faulty::default());
    let d = device_on(store.clone()).await;
    let (dc, uc) = d.start().await;
    store.set(1);
    assert_eq!(error_code(&d.poll(&dc).await), "temporarily_unavailable");
    assert_eq!(
        error_code(&d.authorize_device(&[("scope", "profile:read")]).await),
        "temporarily_unavailable"
    );
    assert!(d.h.engine.enter_user_code(&uc, BINDING).await.is_err());
    store.set(2);
    assert_eq!(error_code(&d.poll(&dc).await), "server_error");
    store.set(0);
    // Nothing above counted as a poll.
    assert_eq!(error_code(&d.poll(&dc).await), "authorization_pending");
}

#[tokio::test]
async fn debug_output_never_shows_a_code() {
    let d = device().await;
    let (dc, uc) = d.start().await;
    let c = d.prompt(&uc).await;
    let prompt_debug = format!(
        "{:?}",
        d.h.engine
            .resume(&c, BINDING, &alice(), &latchkey::Source::default())
            .await
    );
    for secret in [&dc, &uc] {
        assert!(!prompt_debug.contains(secret.as_str()));
    }
    let r = d.authorize_device(&[("scope", "profile:read")]).await;
    let j: latchkey::device::DeviceAuthorizationResponse = {
        let v = r.json_body();
        latchkey::device::DeviceAuthorizationResponse {
            device_code: v["device_code"].as_str().unwrap().into(),
            user_code: v["user_code"].as_str().unwrap().into(),
            verification_uri: v["verification_uri"].as_str().unwrap().into(),
            verification_uri_complete: v["verification_uri_complete"].as_str().unwrap().into(),
            expires_in: 600,
            interval: 5,
        }
    };
    let shown = format!("{j:?}");
    assert!(!shown.contains(&j.device_code) && !shown.contains(&j.user_code));
}
