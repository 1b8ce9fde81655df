//! Reading the session cookie and formatting `Set-Cookie` (RFC 6265).

use crate::http::HttpRequest;

/// Every `Cookie` header of `req` joined into one, as a browser would send
/// them over HTTP/1.1. HTTP/2 clients may split cookies across several
/// headers (RFC 9113 §8.2.3); adapters copy header bytes lossily, so a
/// non-ASCII cookie of another app on the same host costs only itself,
/// never our session.
#[must_use]
pub fn joined_cookie_header(req: &HttpRequest) -> Option<String> {
    let all: Vec<&str> = req.header_values("cookie").collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// The value of cookie `name` in a `Cookie` header, only when it appears
/// exactly once.
///
/// Two cookies of one name mean someone else set one: a sibling subdomain
/// can plant `name=…; Domain=.example` (cookie tossing, RFC 6265 §8.6), and
/// the browser sends both without saying which is which. Reading either
/// could hand the user a session the attacker knows, so neither is read.
#[must_use]
pub fn single_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let mut found = header.split(';').filter_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    });
    match (found.next(), found.next()) {
        (Some(v), None) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// A `Set-Cookie` value installing session cookie `name` = `value`:
/// `HttpOnly` (no script reads it), `SameSite=Lax` (not sent on cross-site
/// posts, still sent when the client redirects the user back to us),
/// `Path=/`, and `Secure` when the issuer is `https` (RFC 6265 §4.1.2).
#[must_use]
pub fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// A `Set-Cookie` value installing a cookie that outlives the browser
/// session: `Max-Age` seconds, `HttpOnly`, `SameSite=Strict` (only our own
/// pages send it), `Path=/`, and `Secure` when the issuer is `https`.
#[must_use]
pub fn persistent_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// A `Set-Cookie` value that deletes cookie `name` (RFC 6265 §3.1).
#[must_use]
pub fn clear_cookie(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        assert_eq!(single_cookie("a=1; b=2", "b"), Some("2"));
        assert_eq!(single_cookie("ab=1", "a"), None);
        assert_eq!(single_cookie("a=", "a"), None);
        assert_eq!(single_cookie("a=1;b=2;  a=3", "a"), None, "two are refused");
        assert_eq!(single_cookie("caf\u{e9}=x; a=1", "a"), Some("1"));
    }

    #[test]
    fn split_and_non_ascii_cookie_headers_still_find_the_session() {
        let req = HttpRequest::new("GET")
            .with_header("Cookie", &String::from_utf8_lossy(b"other=caf\xc3"))
            .with_header("cookie", "latchkey_session=abc");
        let joined = joined_cookie_header(&req).unwrap();
        assert_eq!(single_cookie(&joined, "latchkey_session"), Some("abc"));
        assert_eq!(joined_cookie_header(&HttpRequest::new("GET")), None);
    }

    #[test]
    fn set_cookie_attributes() {
        let c = set_cookie("s", "v", false);
        assert_eq!(c, "s=v; Path=/; HttpOnly; SameSite=Lax");
        assert!(set_cookie("s", "v", true).ends_with("; Secure"));
        assert!(clear_cookie("s", true).contains("Max-Age=0"));
    }
}
