//! An agent's Client ID Metadata Document, served over HTTPS on loopback
//! with a self-signed certificate made here, as the agent's own web site
//! would serve it. The authorization server trusts the certificate and may
//! connect to loopback only through its test-only flags.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What the document server saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request target.
    pub path: String,
    /// Its `User-Agent`, empty when none.
    pub user_agent: String,
}

/// A running document server; dropping it stops it.
pub struct Documents {
    /// The document's URL, which is also the agent's `client_id`.
    pub url: String,
    /// The self-signed certificate (PEM) to give the authorization server.
    pub root_cert: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Documents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Documents {
    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Serves, at `https://127.0.0.1:PORT/agents/<file>`, the metadata
    /// document of a public client named `name` redirecting to `redirect`,
    /// for the MCP server's scopes; writes the certificate into `dir`.
    pub async fn serve(dir: &Path, file: &str, name: &str, redirect: &str) -> Documents {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let root_cert = dir.join("documents-root.pem");
        std::fs::write(&root_cert, pem(made.cert.der())).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let path = format!("/agents/{file}");
        let url = format!("https://{}{path}", listener.local_addr().unwrap());
        let body = json!({
            "client_id": url,
            "client_name": name,
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "profile:read zones:read dns:edit offline_access",
        })
        .to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, log, body, path) =
                    (acceptor.clone(), log.clone(), body.clone(), path.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Some(head) = read_head(&mut tls).await else {
                        return;
                    };
                    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let user_agent = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("user-agent")
                                .then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let found = target == path;
                    log.lock().unwrap().push(Seen {
                        path: target,
                        user_agent,
                    });
                    let answer = if found {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                             Cache-Control: public, max-age=3600\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Documents {
            url,
            root_cert,
            seen,
            task,
        }
    }
}

/// `der` as a PEM `CERTIFICATE` block, the form operators usually have.
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The request line and headers, or `None` if the peer went away first.
async fn read_head(
    tls: &mut tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return None;
        }
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}
