//! The default metadata document fetcher (`cimd-fetch`) against local
//! HTTPS servers with a self-signed certificate made here. Only loopback
//! addresses are ever contacted: internal addresses elsewhere are proven
//! refused by the unit tests of `is_public_address`, with no traffic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use latchkey::cimd::{
    ClientMetadataFetcher, FetchError, HttpsFetcher, HttpsFetcherBuilder, MetadataDocumentConfig,
};
use latchkey::clock::ManualClock;
use latchkey::http::HttpRequest;
use latchkey::{AuthorizeOutcome, Engine, EngineConfig, MemoryStore, ScopeSet};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server answers: the raw HTTP response, or `None` to hang.
type Answer = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

struct Server {
    port: u16,
    cert: CertificateDer<'static>,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    /// A fetcher that trusts this server's certificate.
    fn fetcher(&self) -> HttpsFetcherBuilder {
        HttpsFetcher::builder().add_root_certificate_der(&self.cert)
    }
}

/// An HTTPS server on 127.0.0.1 for `localhost` and `127.0.0.1`, answering
/// every request (by path) with `answer`, counting requests.
async fn serve(answer: Answer) -> Server {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        // Bounded: no test makes more than a handful of connections.
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, answer, counter) = (acceptor.clone(), answer.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head);
                let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                match answer(&path) {
                    Some(bytes) => {
                        let _ = tls.write_all(&bytes).await;
                        let _ = tls.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(10)).await,
                }
            });
        }
    });
    Server { port, cert, hits }
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8], length: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// 200 with `body` as JSON and `cache` as its `Cache-Control`.
fn json_response(body: &str, cache: &str) -> Vec<u8> {
    let headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", cache),
    ];
    response("200 OK", &headers, body.as_bytes(), true)
}

fn json(body: String, cache: &'static str) -> Answer {
    Arc::new(move |_| Some(json_response(&body, cache)))
}

#[tokio::test]
async fn fetches_from_loopback_only_with_the_test_allowance() {
    let s = serve(json(r#"{"a":1}"#.into(), "public, max-age=120")).await;
    let allowed = s.fetcher().allow_loopback_for_tests().build().unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let d = allowed.fetch(&s.url(host, "/client.json")).await.unwrap();
        assert_eq!(
            (d.body.as_slice(), d.max_age),
            (&br#"{"a":1}"#[..], Some(120))
        );
    }
    assert_eq!(s.hits(), 2);

    // The default: a name resolving to 127.0.0.1 and every loopback literal
    // spelling are refused before any connection.
    let guarded = s.fetcher().build().unwrap();
    for host in [
        "localhost",
        "127.0.0.1",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[0:0:0:0:0:ffff:7f00:1]",
    ] {
        let e = guarded
            .fetch(&s.url(host, "/client.json"))
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::BlockedAddress), "{host}: {e:?}");
    }
    // A mapped loopback address is not "loopback" even for the allowance.
    let e = allowed
        .fetch(&s.url("[::ffff:127.0.0.1]", "/client.json"))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::BlockedAddress), "{e:?}");
    assert_eq!(s.hits(), 2, "no refused fetch reached the server");
}

#[tokio::test]
async fn only_https_is_fetched() {
    let f = HttpsFetcher::new().unwrap();
    for url in [
        "http://localhost/client.json",
        "ftp://localhost/x",
        "not a url",
    ] {
        assert!(
            matches!(f.fetch(url).await, Err(FetchError::NotHttps)),
            "{url}"
        );
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let s = serve(Arc::new(|path: &str| {
        Some(if path == "/client.json" {
            response("302 Found", &[("Location", "/moved.json")], b"", true)
        } else {
            response(
                "200 OK",
                &[("Content-Type", "application/json")],
                b"{}",
                true,
            )
        })
    }))
    .await;
    let f = s.fetcher().allow_loopback_for_tests().build().unwrap();
    let e = f
        .fetch(&s.url("localhost", "/client.json"))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Redirect(302)), "{e:?}");
    assert_eq!(s.hits(), 1, "the redirect target was never requested");
}

#[tokio::test]
async fn oversize_wrong_type_and_error_statuses_are_refused() {
    let big = vec![b' '; 5 * 1024 + 1];
    let s = serve(Arc::new(move |path: &str| {
        let ct = [("Content-Type", "application/json")];
        Some(match path {
            "/declared-big" => response("200 OK", &ct, &big, true),
            // No Content-Length: the limit holds while reading.
            "/streamed-big" => response("200 OK", &ct, &big, false),
            "/html" => response("200 OK", &[("Content-Type", "text/html")], b"{}", true),
            "/untyped" => response("200 OK", &[], b"{}", true),
            "/specific" => response(
                "200 OK",
                &[(
                    "Content-Type",
                    "application/oauth-client+json; charset=utf-8",
                )],
                b"{}",
                true,
            ),
            _ => response("404 Not Found", &ct, b"{}", true),
        })
    }))
    .await;
    let f = s.fetcher().allow_loopback_for_tests().build().unwrap();
    let url = |p: &str| s.url("localhost", p);
    assert!(matches!(
        f.fetch(&url("/declared-big")).await,
        Err(FetchError::TooLarge(5120))
    ));
    assert!(matches!(
        f.fetch(&url("/streamed-big")).await,
        Err(FetchError::TooLarge(5120))
    ));
    assert!(matches!(
        f.fetch(&url("/html")).await,
        Err(FetchError::ContentType)
    ));
    assert!(matches!(
        f.fetch(&url("/untyped")).await,
        Err(FetchError::ContentType)
    ));
    assert!(matches!(
        f.fetch(&url("/missing")).await,
        Err(FetchError::Status(404))
    ));
    assert_eq!(f.fetch(&url("/specific")).await.unwrap().body, b"{}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let s = serve(Arc::new(|_: &str| None)).await;
    let f = s
        .fetcher()
        .allow_loopback_for_tests()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = f
        .fetch(&s.url("localhost", "/client.json"))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Timeout), "{e:?}");
}

/// An engine whose metadata documents come from `s` through the real
/// fetcher, with a manual clock.
fn engine(s: &Server) -> (Engine<MemoryStore>, Arc<ManualClock>) {
    let fetcher = s.fetcher().allow_loopback_for_tests().build().unwrap();
    let mut config = EngineConfig::new(ISSUER, scopes());
    config.client_id_metadata_documents = Some(MetadataDocumentConfig::new(
        Arc::new(fetcher),
        ScopeSet::parse("profile:read").unwrap(),
        vec![],
    ));
    engine_configured(Arc::new(MemoryStore::new()), config)
}

async fn authorize(engine: &Engine<MemoryStore>, client_id: &str) -> AuthorizeOutcome {
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:3000/cb"),
        ("scope", "profile:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    engine.authorize(&req, Some(&alice()), BINDING).await
}

/// Serves a document naming `client_id` (the URL the test will use, so
/// it is set once the port is known).
fn document_server(client_id: Arc<std::sync::OnceLock<String>>, cache: &'static str) -> Answer {
    Arc::new(move |_| {
        let body = format!(
            r#"{{"client_id":"{}","client_name":"Agent","redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"none"}}"#,
            client_id.get().map_or("", String::as_str)
        );
        Some(json_response(&body, cache))
    })
}

#[tokio::test]
async fn the_engine_reuses_a_document_within_max_age_and_refetches_after() {
    let id = Arc::new(std::sync::OnceLock::new());
    let s = serve(document_server(id.clone(), "max-age=120")).await;
    let url = s.url("localhost", "/client.json");
    id.set(url.clone()).unwrap();
    let (engine, clock) = engine(&s);
    for _ in 0..2 {
        let o = authorize(&engine, &url).await;
        assert!(matches!(o, AuthorizeOutcome::ConsentRequired(_)), "{o:?}");
    }
    assert_eq!(s.hits(), 1, "within max-age the stored copy is used");
    clock.advance(121);
    let o = authorize(&engine, &url).await;
    assert!(matches!(o, AuthorizeOutcome::ConsentRequired(_)), "{o:?}");
    assert_eq!(s.hits(), 2, "after max-age the document is fetched again");
}

#[tokio::test]
async fn the_engine_refuses_a_document_naming_another_client_id() {
    let id = Arc::new(std::sync::OnceLock::new());
    let s = serve(document_server(id.clone(), "max-age=120")).await;
    id.set(s.url("localhost", "/someone-else.json")).unwrap();
    let (engine, _) = engine(&s);
    match authorize(&engine, &s.url("localhost", "/client.json")).await {
        AuthorizeOutcome::ShowError(e) => {
            assert!(e.description().contains("differs"), "{e}");
        }
        other => panic!("expected an error page, got {other:?}"),
    }
    assert!(engine
        .list_clients("client-id-metadata-document")
        .await
        .unwrap()
        .is_empty());
}
