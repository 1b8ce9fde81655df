//! The axum app of the router suite and its in-process transport, shared by
//! the axum test binaries (included with `#[path]` next to `mod common` and
//! `mod suite`).
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use axum::Router;
use latchkey::axum::OAuthRouter;
use latchkey::http::HttpRequest;
use latchkey::metadata::ProtectedResourceMetadata;
use latchkey::web::{SessionConfig, Sessions};
use tower::ServiceExt;

use crate::common::{Harness, API, ISSUER};
use crate::suite::{self, login, Answer, TestUsers, Transport};

pub fn app(h: &Harness) -> Router {
    app_with(h, latchkey::web::flow::PlainPages)
}

pub fn app_with(h: &Harness, pages: impl latchkey::web::flow::Pages) -> Router {
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(ISSUER)));
    let scopes = ["profile:read"];
    let resource = ProtectedResourceMetadata::new(API, h.engine.config(), &scopes);
    let s = sessions.clone();
    OAuthRouter::new(h.engine.clone(), sessions, TestUsers)
        .protected_resource(resource)
        .pages(pages)
        .into_router()
        .route("/login", any(move |req: HttpRequest| login(s.clone(), req)))
}

/// The router called directly, through `oneshot`.
pub struct InProcess(pub Router);

impl Transport for InProcess {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            if k == suite::PEER {
                // What `into_make_service_with_connect_info` would insert.
                let addr = std::net::SocketAddr::new(v.parse().unwrap(), 40000);
                req = req.extension(axum::extract::ConnectInfo(addr));
                continue;
            }
            req = req.header(k, v);
        }
        let r = self
            .0
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }
}
