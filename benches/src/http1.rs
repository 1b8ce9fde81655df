//! A minimal HTTP/1.1 keep-alive client for the load generator: one
//! connection per worker, no pooling, redirects and cookies handled by the
//! caller. Small on purpose: on a 2-core machine the generator shares the
//! CPU with the server, so every microsecond it spends is one the server
//! does not get (a general-purpose client costs several times more per
//! request). Refuses any address that is not loopback.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufStream};
use tokio::net::TcpStream;

use crate::BenchError;

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower-case) and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower-case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` as `name=value`.
    pub fn cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
    }

    /// The body as text.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection to a loopback server.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<BufStream<TcpStream>>,
}

/// `http://HOST:PORT` → the socket address, refusing anything but loopback.
///
/// # Errors
/// For another scheme, an unparsable address, or a non-loopback one.
pub fn loopback(base: &str) -> Result<SocketAddr, BenchError> {
    let hostport = base
        .strip_prefix("http://")
        .ok_or("the base URL must be http://127.0.0.1:PORT (loopback only)")?
        .trim_end_matches('/');
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|_| format!("{hostport:?} is not an IP address and port"))?;
    if !addr.ip().is_loopback() {
        return Err(
            format!("{addr} is not a loopback address: refusing to send load there").into(),
        );
    }
    Ok(addr)
}

impl Conn {
    /// A connection to `addr` (opened on first use).
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            host: addr.to_string(),
            stream: None,
        }
    }

    /// Sends one request and reads the whole response; reconnects once if
    /// the kept-alive connection was closed by the server.
    ///
    /// # Errors
    /// I/O or protocol errors.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, BenchError> {
        let fresh = self.stream.is_none();
        match self.once(method, path, headers, body).await {
            Ok(r) => Ok(r),
            Err(_) if !fresh => {
                self.stream = None;
                self.once(method, path, headers, body).await
            }
            Err(e) => Err(e),
        }
    }

    async fn once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, BenchError> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(BufStream::new(s));
        }
        let s = self.stream.as_mut().ok_or("no connection")?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        for (n, v) in headers {
            head.push_str(n);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        s.flush().await?;
        let r = read_response(s).await;
        match &r {
            Ok(resp)
                if resp
                    .header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close")) =>
            {
                self.stream = None;
            }
            Err(_) => self.stream = None,
            Ok(_) => {}
        }
        r
    }
}

async fn read_response(s: &mut BufStream<TcpStream>) -> Result<Response, BenchError> {
    let mut line = String::new();
    if s.read_line(&mut line).await? == 0 {
        return Err("connection closed".into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Err("connection closed in headers".into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            s.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            let start = body.len();
            body.resize(start + size, 0);
            s.read_exact(&mut body[start..]).await?;
            line.clear();
            s.read_line(&mut line).await?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = get("content-length") {
        let n: usize = n.parse().map_err(|_| "bad content-length")?;
        body.resize(n, 0);
        s.read_exact(&mut body).await?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
