//! Domain verification by the well-known file, against an HTTPS server the
//! test runs on loopback (its certificate trusted as an extra root, its
//! name pinned to it with the fetcher's test-only resolver override).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use latchkey::cimd::HttpsFetcher;
use latchkey::domains::{
    AnyOf, DomainVerifier, Failure, Found, Method, VerifyError, WellKnownVerifier,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DOMAIN: &str = "app.test";
const VALUE: &str = "latchkey-verification=0123456789abcdef";

/// The raw HTTP response the server sends for the challenge path (any
/// other path gets a 404); `None` never answers.
type Reply = Option<Vec<u8>>;

struct Site {
    addr: SocketAddr,
    root: Vec<u8>,
}

/// Serves `reply` over TLS for `DOMAIN` on 127.0.0.1.
async fn site(reply: Reply) -> Site {
    let generated = rcgen::generate_simple_self_signed(vec![DOMAIN.to_owned()]).unwrap();
    let root = generated.cert.der().to_vec();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![generated.cert.der().clone()],
        PrivateKeyDer::Pkcs8(key),
    )
    .unwrap();
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (tls, reply) = (tls.clone(), reply.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = tls.accept(socket).await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n]).into_owned();
                let out = if line.starts_with("GET /.well-known/latchkey-challenge ") {
                    match &reply {
                        Some(r) => r.clone(),
                        None => return tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                } else {
                    http("404 Not Found", &[], "")
                };
                let _ = stream.write_all(&out).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Site { addr, root }
}

fn http(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head += h;
        head += "\r\n";
    }
    format!("{head}\r\n{body}").into_bytes()
}

fn ok(body: &str) -> Reply {
    Some(http("200 OK", &["Content-Type: text/plain"], body))
}

impl Site {
    fn verifier(&self, loopback: bool) -> WellKnownVerifier {
        let mut b = HttpsFetcher::builder()
            .add_root_certificate_der(&self.root)
            .resolve_for_tests(DOMAIN, self.addr)
            .timeout(Duration::from_millis(700));
        if loopback {
            b = b.allow_loopback_for_tests();
        }
        WellKnownVerifier::new(b.build().unwrap())
    }
}

async fn failure(reply: Reply) -> Failure {
    let s = site(reply).await;
    let mut e = s
        .verifier(true)
        .check(DOMAIN, VALUE)
        .await
        .expect_err("not found");
    let a = e.attempts.remove(0);
    assert_eq!(a.method, Method::WellKnownFile);
    a.failure
}

#[tokio::test]
async fn the_published_file_is_found() {
    let s = site(ok(&format!("{VALUE}\n"))).await;
    let found = s.verifier(true).check(DOMAIN, VALUE).await.unwrap();
    assert_eq!(found.method, Method::WellKnownFile);
    // One line among several (a domain proven to several servers).
    let s = site(ok(&format!("latchkey-verification=other\r\n{VALUE}\r\n"))).await;
    assert!(s.verifier(true).check(DOMAIN, VALUE).await.is_ok());
}

#[tokio::test]
async fn misses_say_why() {
    let wrong = failure(ok("latchkey-verification=0123456789abcdeX")).await;
    assert!(matches!(wrong, Failure::WrongValue), "{wrong:?}");
    let longer = failure(ok(&format!("{VALUE}0"))).await;
    assert!(matches!(longer, Failure::WrongValue), "{longer:?}");
    let empty = failure(ok("\n")).await;
    assert!(matches!(empty, Failure::NotPublished), "{empty:?}");
    let missing = failure(Some(http("404 Not Found", &[], ""))).await;
    assert!(matches!(missing, Failure::NotPublished), "{missing:?}");
    let broken = failure(Some(http("503 Service Unavailable", &[], ""))).await;
    assert!(matches!(broken, Failure::Status(503)), "{broken:?}");
    assert!(!broken.is_definitive());
    let big = failure(ok(&format!("{VALUE}\n{}", "x".repeat(4096)))).await;
    assert!(matches!(big, Failure::TooLarge(_)), "{big:?}");
    let slow = failure(None).await;
    assert!(matches!(slow, Failure::Timeout), "{slow:?}");
}

#[tokio::test]
async fn a_redirect_is_refused_not_followed() {
    let to_elsewhere = Some(http(
        "302 Found",
        &["Location: https://elsewhere.test/.well-known/latchkey-challenge"],
        "",
    ));
    let f = failure(to_elsewhere).await;
    assert!(matches!(f, Failure::Redirect(302)), "{f:?}");
    assert!(f.is_definitive());
}

#[tokio::test]
async fn an_internal_address_is_refused_without_the_test_allowance() {
    let s = site(ok(VALUE)).await;
    let mut e = s.verifier(false).check(DOMAIN, VALUE).await.unwrap_err();
    let f = e.attempts.remove(0).failure;
    assert!(matches!(f, Failure::BlockedAddress), "{f:?}");
}

#[tokio::test]
async fn ip_literals_are_never_fetched() {
    let s = site(ok(VALUE)).await;
    for bad in ["127.0.0.1", "[::1]", "localhost"] {
        let mut e = s.verifier(true).check(bad, VALUE).await.unwrap_err();
        assert!(matches!(
            e.attempts.remove(0).failure,
            Failure::InvalidDomain
        ));
    }
}

/// Always fails, as a DNS verifier would for a domain without the record.
struct NoRecord;

#[async_trait::async_trait]
impl DomainVerifier for NoRecord {
    async fn check(&self, _: &str, _: &str) -> Result<Found, VerifyError> {
        Err(VerifyError::one(Method::DnsTxt, Failure::NotPublished))
    }
}

#[tokio::test]
async fn any_of_tries_each_and_reports_every_failure() {
    let s = site(ok(VALUE)).await;
    let both = AnyOf(vec![Arc::new(NoRecord), Arc::new(s.verifier(true))]);
    assert_eq!(
        both.check(DOMAIN, VALUE).await.unwrap().method,
        Method::WellKnownFile
    );
    let s = site(Some(http("404 Not Found", &[], ""))).await;
    let both = AnyOf(vec![Arc::new(NoRecord), Arc::new(s.verifier(true))]);
    let e = both.check(DOMAIN, VALUE).await.unwrap_err();
    assert!(e.is_definitive());
    assert_eq!(
        e.explain(DOMAIN),
        "DNS TXT record at _latchkey-challenge.app.test: no challenge is published there; \
         HTTPS file https://app.test/.well-known/latchkey-challenge: no challenge is \
         published there"
    );
}
