//! Plain HTTP request and response types, and strict form/query parsing.
//!
//! The engine never sees a framework type: an adapter copies method, raw
//! query, headers and body into [`HttpRequest`], calls an endpoint, and
//! copies [`HttpResponse`] back. That keeps each adapter a few lines.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;

/// Largest body any endpoint reads (form posts are small).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Largest decoded value of one parameter.
pub const MAX_VALUE_BYTES: usize = 4096;
/// Most parameters in one request.
pub const MAX_PARAMS: usize = 64;

/// An incoming request, framework-neutral. `Debug` shows no body and no
/// credential-bearing header.
#[derive(Clone, Default)]
pub struct HttpRequest {
    /// Upper-case method (`GET`, `POST`, …).
    pub method: String,
    /// Raw query string without the leading `?`, still percent-encoded.
    pub query: String,
    /// The request path, still percent-encoded (routes with a path
    /// parameter, like RFC 7592's client configuration endpoint, read it).
    pub path: String,
    /// Header names and values; names compare case-insensitively.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The address the request came from: the TCP peer, as the framework
    /// integrations set it (axum: with `ConnectInfo<SocketAddr>`; actix-web:
    /// always). Behind a reverse proxy the host sets it from the proxy's
    /// header. Rate limits key on it ([`crate::limits`]); `None` shares one
    /// budget among every request without an address.
    pub peer: Option<std::net::IpAddr>,
}

impl HttpRequest {
    /// A request with `method` and nothing else.
    #[must_use]
    pub fn new(method: &str) -> Self {
        HttpRequest {
            method: method.to_ascii_uppercase(),
            ..Self::default()
        }
    }

    /// A `POST` with an `application/x-www-form-urlencoded` body built from
    /// `pairs` (for tests and in-process callers).
    #[must_use]
    pub fn form_post(pairs: &[(&str, &str)]) -> Self {
        HttpRequest {
            method: "POST".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: encode_form(pairs).into_bytes(),
            ..Self::default()
        }
    }

    /// A `GET` with `pairs` as its query string.
    #[must_use]
    pub fn get(pairs: &[(&str, &str)]) -> Self {
        HttpRequest {
            method: "GET".into(),
            query: encode_form(pairs),
            ..Self::default()
        }
    }

    /// Adds a header (builder style).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Every value of header `name`.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The single value of header `name`.
    ///
    /// # Errors
    /// `invalid_request` if it appears more than once.
    pub fn header<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, Error> {
        let mut it = self.header_values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(Error::InvalidRequest(
                format!("repeated {name} header").into(),
            ));
        }
        Ok(first)
    }

    /// Checks method, content type and size of a form `POST` and parses its
    /// body (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1).
    ///
    /// # Errors
    /// 405 for another method, 413 for an oversized body, `invalid_request`
    /// for a wrong content type or malformed encoding.
    pub fn form_body(&self) -> Result<Params, Error> {
        if self.method != "POST" {
            return Err(Error::MethodNotAllowed("POST"));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        let ct = self.header("content-type")?.unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(Error::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| Error::invalid_request("body is not valid UTF-8"))?;
        Params::parse(text)
    }
}

impl HttpRequest {
    /// [`HttpRequest::form_body`] for the endpoints that take client
    /// credentials (token, introspection, revocation): any query string is
    /// refused, even when the body authenticates correctly, because RFC 6749
    /// §2.3.1 forbids credentials in the request URI and a client leaking
    /// its secret into URLs and logs should learn at once.
    ///
    /// # Errors
    /// As [`HttpRequest::form_body`], and `invalid_request` for a query.
    pub fn credential_form(&self) -> Result<Params, Error> {
        let params = self.form_body()?;
        if !self.query.is_empty() {
            return Err(Error::invalid_request(
                "parameters are not accepted in the URL of this endpoint; send them in the form body (RFC 6749 §2.3.1)",
            ));
        }
        Ok(params)
    }
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750
/// §2.1: the scheme is case-insensitive), or `None` for another scheme or
/// an empty token.
#[must_use]
pub fn bearer_token(authorization: &str) -> Option<&str> {
    match authorization.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Some(t.trim())
        }
        _ => None,
    }
}

/// An outgoing response, framework-neutral. `Debug` shows no body (it may
/// hold tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response that must not be cached (RFC 6749 §5.1).
    #[must_use]
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Cache-Control".into(), "no-store".into()),
                ("Pragma".into(), "no-cache".into()),
                // A JSON answer is never to be sniffed into a page.
                ("X-Content-Type-Options".into(), "nosniff".into()),
            ],
            body,
        }
    }

    /// A JSON error response (RFC 6749 §5.2), with `WWW-Authenticate` on
    /// every 401 (RFC 9110 §15.5.2 requires it; RFC 6749 §5.2 uses it to say
    /// which scheme is supported) and `Allow` for a wrong method.
    #[must_use]
    pub fn error(err: &Error) -> Self {
        let mut r = HttpResponse::json(err.status(), err.to_json());
        match err {
            Error::InvalidClient { .. } => r.headers.push((
                "WWW-Authenticate".into(),
                "Basic realm=\"latchkey\", charset=\"UTF-8\"".into(),
            )),
            Error::MethodNotAllowed(allowed) => r.headers.push(("Allow".into(), (*allowed).into())),
            Error::RateLimited { retry_after } => return r.retry_after(*retry_after),
            _ => {}
        }
        r
    }

    /// Adds `Retry-After` (RFC 9110 §10.2.3) in whole seconds, at least
    /// one: a rate-limited answer says when to come back.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.headers
            .push(("Retry-After".into(), seconds.max(1).to_string()));
        self
    }

    /// The value of header `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (for tests and in-process callers).
    #[must_use]
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Parsed parameters: each name with every value it had, in order.
/// `Debug` lists names only: values include codes, tokens and secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (also used for query
    /// strings). Empty values are dropped: RFC 6749 §3.1 says parameters
    /// sent without a value are treated as omitted.
    ///
    /// # Errors
    /// `invalid_request` for malformed percent-encoding, invalid UTF-8,
    /// over-long values or too many parameters.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if text.is_empty() {
            return Ok(Params(map));
        }
        for (n, pair) in text.split('&').enumerate() {
            if n >= MAX_PARAMS {
                return Err(Error::invalid_request("too many parameters"));
            }
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode_component(k)?;
            let v = decode_component(v)?;
            if v.is_empty() {
                continue;
            }
            map.entry(k).or_default().push(v);
        }
        Ok(Params(map))
    }

    /// The single value of `name`, or `None` if absent.
    ///
    /// # Errors
    /// `invalid_request` if it was sent more than once (RFC 6749 §3.1:
    /// request and response parameters must not be included more than once).
    pub fn single(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(Error::InvalidRequest(
                format!("parameter {} repeated", safe_name(name)).into(),
            )),
        }
    }

    /// The single value of `name`, which must be present.
    ///
    /// # Errors
    /// `invalid_request` if absent or repeated.
    pub fn required(&self, name: &str) -> Result<&str, Error> {
        self.single(name)?.ok_or_else(|| {
            Error::InvalidRequest(format!("missing parameter {}", safe_name(name)).into())
        })
    }

    /// Every value of `name` (RFC 8707 `resource` may repeat).
    #[must_use]
    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// Fails on the first parameter sent more than once, other than those
    /// in `repeatable` (RFC 6749 §3.1; RFC 8707 `resource` may repeat).
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn reject_repeats(&self, repeatable: &[&str]) -> Result<(), Error> {
        match self
            .0
            .iter()
            .find(|(k, v)| v.len() > 1 && !repeatable.contains(&k.as_str()))
        {
            Some((k, _)) => Err(Error::InvalidRequest(
                format!("parameter {} repeated", safe_name(k)).into(),
            )),
            None => Ok(()),
        }
    }

    /// Whether `name` is present at all.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

const SENSITIVE_HEADERS: [&str; 4] = ["authorization", "cookie", "set-cookie", "location"];

fn redacted_headers(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter()
        .map(|(n, v)| {
            let sensitive = SENSITIVE_HEADERS.iter().any(|s| n.eq_ignore_ascii_case(s));
            (
                n.as_str(),
                if sensitive { "<redacted>" } else { v.as_str() },
            )
        })
        .collect()
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("query_len", &self.query.len())
            .field("headers", &redacted_headers(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &redacted_headers(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A parameter name fit for `error_description`: RFC 6749 §5.2 allows
/// only %x20-21 / %x23-5B / %x5D-7E there, and echoing attacker text at
/// length helps nobody.
fn safe_name(k: &str) -> String {
    let clean: String = k
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        .take(32)
        .collect();
    if clean.is_empty() {
        "(unnamed)".into()
    } else {
        clean
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result
/// must be UTF-8 and at most [`MAX_VALUE_BYTES`].
///
/// # Errors
/// `invalid_request` on a stray `%`, bad hex, invalid UTF-8 or size.
pub fn decode_component(s: &str) -> Result<String, Error> {
    if s.len() > MAX_VALUE_BYTES * 3 {
        return Err(Error::invalid_request("parameter value too long"));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(Error::invalid_request("malformed percent-encoding")),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    if out.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_request("parameter value too long"));
    }
    String::from_utf8(out).map_err(|_| Error::invalid_request("parameter is not valid UTF-8"))
}

/// Percent-encodes for `application/x-www-form-urlencoded` (unreserved
/// characters kept, everything else `%XX`).
#[must_use]
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// Encodes pairs as a form body or query string.
#[must_use]
pub fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_values_are_absent_and_duplicates_detected() {
        let p = Params::parse("a=&b=1&b=2&c=x%20y+z").unwrap();
        assert_eq!(p.single("a").unwrap(), None);
        assert!(p.single("b").is_err());
        assert_eq!(p.all("b"), ["1", "2"]);
        assert_eq!(p.single("c").unwrap(), Some("x y z"));
    }

    #[test]
    fn malformed_encoding_is_invalid_request() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff%fe"] {
            let e = Params::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn an_overlong_name_is_refused_even_without_a_value() {
        // The web_forms fuzz target's reference counted only the pairs it
        // keeps (those with a value); the parser bounds every component.
        let name = "n".repeat(MAX_VALUE_BYTES + 1);
        assert!(Params::parse(&format!("a=1&{name}")).is_err());
        assert!(Params::parse(&format!("a=1&{name}=")).is_err());
        let name = "n".repeat(MAX_VALUE_BYTES);
        let p = Params::parse(&format!("a=1&{name}")).unwrap();
        assert_eq!(p.single("a").unwrap(), Some("1"));
    }

    #[test]
    fn form_body_checks_method_type_and_size() {
        let mut r = HttpRequest::form_post(&[("a", "b")]);
        r.method = "GET".into();
        assert_eq!(r.form_body().unwrap_err().status(), 405);
        let r = HttpRequest::form_post(&[("a", "b")]).with_header("content-type", "x");
        assert!(r.form_body().is_err(), "two content-type headers");
        let mut r = HttpRequest::form_post(&[]);
        r.headers = vec![("Content-Type".into(), "application/json".into())];
        assert_eq!(r.form_body().unwrap_err().code(), "invalid_request");
        let mut r = HttpRequest::form_post(&[]);
        r.body = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(r.form_body().unwrap_err().status(), 413);
        let mut r = HttpRequest::form_post(&[]);
        r.headers = vec![(
            "content-type".into(),
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8".into(),
        )];
        r.body = b"x=1".to_vec();
        assert_eq!(r.form_body().unwrap().single("x").unwrap(), Some("1"));
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(k in "[a-z_]{1,10}", v in "\\PC{1,40}") {
            let text = encode_form(&[(&k, &v)]);
            let p = Params::parse(&text).unwrap();
            prop_assert_eq!(p.single(&k).unwrap(), Some(v.as_str()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Params::parse(&s);
        }
    }
}
