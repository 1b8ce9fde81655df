//! Redirect URIs: registration rules, exact matching with the RFC 8252
//! loopback exception, and building the authorization response.
//!
//! No URL normalisation happens anywhere: OAuth 2.1 §2.3.1 and RFC 9700
//! §4.1.3 require exact string comparison, because normalisers disagree and
//! every disagreement has been an open redirect somewhere.

use crate::error::Error;
use crate::http::encode_component;

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// The parts of an absolute URI that redirect rules look at.
#[derive(Debug, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// Scheme, lower-cased by the caller when comparing.
    pub scheme: &'a str,
    /// Host (IPv6 literal with brackets), empty for URIs without authority.
    pub host: &'a str,
    /// Port text, if any.
    pub port: Option<&'a str>,
    /// Everything after the authority (path, query).
    pub rest: &'a str,
    /// Whether the URI has a `#fragment`.
    pub has_fragment: bool,
}

/// Splits an absolute URI (RFC 3986 §3) into the parts redirect rules need.
/// Returns `None` for anything that is not an absolute URI.
#[must_use]
pub fn split_uri(uri: &str) -> Option<UriParts<'_>> {
    if uri.len() > MAX_REDIRECT_URI_LEN || uri.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    let (scheme, after) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let has_fragment = after.contains('#');
    let Some(hier) = after.strip_prefix("//") else {
        // No authority: a private-use scheme such as `com.example.app:/cb`.
        return Some(UriParts {
            scheme,
            host: "",
            port: None,
            rest: after,
            has_fragment,
        });
    };
    let end = hier.find(['/', '?', '#']).unwrap_or(hier.len());
    let (authority, rest) = hier.split_at(end);
    if authority.contains('@') {
        // Userinfo in a redirect URI only serves to confuse humans.
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = &authority[..close + 2];
        let tail = &v6[close + 1..];
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return None;
        }
    }
    Some(UriParts {
        scheme,
        host,
        port,
        rest,
        has_fragment,
    })
}

/// RFC 3986 reg-name restricted to DNS characters, or a bracketed IPv6
/// literal. Anything else (`\\`, `%`, spaces) is where browsers and
/// parsers disagree about the host, so it is refused outright.
fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `[::1]` or a dotted-quad `127.x.y.z`, in canonical form only: the
/// standard parser refuses leading zeros and signs (`127.0.000.1`,
/// `127.+0.0.1`), which other URL parsers read differently (as octal, or
/// not at all), so a registered URI means one address everywhere.
fn is_loopback_ip(host: &str) -> bool {
    host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Whether `presented` matches `registered` exactly, or differs only in the
/// port of a loopback IP literal with `http` (RFC 8252 §7.3). `localhost`
/// gets no exception (RFC 8252 §8.3).
#[must_use]
pub fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Some(r), Some(p)) = (split_uri(registered), split_uri(presented)) else {
        return false;
    };
    r.scheme == "http"
        && p.scheme == "http"
        && is_loopback_ip(r.host)
        && r.host == p.host
        && r.rest == p.rest
        && !r.has_fragment
        && !p.has_fragment
}

/// Checks a redirect URI for registration (RFC 6749 §3.1.2, OAuth 2.1
/// §2.3, RFC 8252 §7): absolute, no fragment, no userinfo; `https`, or
/// `http` only on a loopback IP literal, or a private-use scheme containing
/// a dot (reverse domain name) for native apps.
///
/// # Errors
/// `invalid_redirect_uri` saying what is wrong.
pub fn validate_redirect_uri(uri: &str) -> Result<(), Error> {
    let bad = |why: &'static str| Err(Error::InvalidRedirectUri(why.into()));
    let Some(p) = split_uri(uri) else {
        return bad("redirect URI must be an absolute URI without userinfo");
    };
    if p.has_fragment {
        return bad("redirect URI must not contain a fragment");
    }
    if !percent_encoding_well_formed(uri) {
        // Not a URI (RFC 3986 §2.1), and parsers disagree on what it
        // means: the client's might not find the code the server added.
        return bad(
            "redirect URI has a '%' not followed by two hex digits, or escapes that are not UTF-8",
        );
    }
    // The server appends these; a registered copy would make them repeat
    // (RFC 6749 §3.1: parameters must not be included more than once).
    if let Some((_, q)) = p.rest.split_once('?') {
        let reserved = [
            "code",
            "state",
            "iss",
            "error",
            "error_description",
            "error_uri",
        ];
        if q.split('&')
            .any(|kv| reserved.contains(&kv.split('=').next().unwrap_or("")))
        {
            return bad("redirect URI must not carry code, state, iss or error parameters");
        }
    }
    match p.scheme {
        "https" if !p.host.is_empty() => Ok(()),
        "http" if is_loopback_ip(p.host) => Ok(()),
        "http" => bad("http redirect URIs are only allowed on 127.0.0.1 or [::1]"),
        s if p.host.is_empty() && reverse_domain(s) => Ok(()),
        s if s.contains('.') && p.host.is_empty() => bad(
            "a private-use scheme must be a domain you own, reversed (com.example.app), \
             not a host name like app.example.com",
        ),
        _ => bad(
            "redirect URI must use https, loopback http, or a reverse-domain private-use scheme",
        ),
    }
}

/// Whether every `%` starts a percent-encoded octet (RFC 3986 §2.1) and
/// the octets decode to UTF-8 (RFC 3986 §2.5, as browsers and URL
/// libraries read them): a client that decodes its redirect's query
/// strictly would otherwise refuse the whole query, code included.
fn percent_encoding_well_formed(uri: &str) -> bool {
    let b = uri.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                return false;
            };
            decoded.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            decoded.push(b[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// Whether a private-use URI scheme is a domain name in reverse order
/// (RFC 8252 §7.1): read backwards, its last label is a top-level domain
/// the Public Suffix List knows (`com.example.app` is `app.example.com`).
/// `accounts.google.com` read backwards ends in `accounts`, which is no
/// top-level domain: it is a host name, and an app registering it would
/// be claiming somebody else's name.
fn reverse_domain(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let forward: Vec<&str> = labels.into_iter().rev().collect();
    let forward = forward.join(".").to_ascii_lowercase();
    psl::suffix(forward.as_bytes()).is_some_and(|s| s.is_known())
}

/// The host a redirect goes to, for the consent screen (`com.example.app`
/// for a private-use scheme).
#[must_use]
pub fn redirect_host(uri: &str) -> String {
    match split_uri(uri) {
        Some(p) if !p.host.is_empty() => p.host.to_ascii_lowercase(),
        Some(p) => p.scheme.to_ascii_lowercase(),
        None => String::new(),
    }
}

/// The DNS name a redirect URI belongs to, for the verified-domain rule:
/// its host, lower-cased; for a private-use scheme (no authority), the
/// scheme read backwards, since RFC 8252 §7.1 has an app that controls
/// `app.example.com` use the scheme `com.example.app`. Empty when `uri`
/// does not split.
///
/// Not [`redirect_host`]: that is what the consent screen shows, and the
/// scheme read forwards (`com.example.app`) would be a name under
/// `example.app`, somebody else's domain, whose owner could then pass as
/// the publisher of example.com's app.
#[must_use]
pub fn redirect_domain(uri: &str) -> String {
    match split_uri(uri) {
        Some(p) if !p.host.is_empty() => p.host.to_ascii_lowercase(),
        Some(p) => {
            let labels: Vec<&str> = p.scheme.split('.').rev().collect();
            labels.join(".").to_ascii_lowercase()
        }
        None => String::new(),
    }
}

/// Whether redirect URI `uri` is on `domain` (a verified domain, in
/// canonical lower case): its [`redirect_domain`] is `domain` or under it.
#[must_use]
pub fn on_domain(uri: &str, domain: &str) -> bool {
    host_within(&redirect_domain(uri), domain)
}

/// Whether `host` is `domain` or a subdomain of it.
#[must_use]
pub fn host_within(host: &str, domain: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// Appends `params` to `redirect_uri`'s query (RFC 6749 §4.1.2: the query
/// component of a registered URI is retained).
#[must_use]
pub fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = redirect_uri.to_owned();
    // A query that is empty or ends in `&` is already separated. Only the
    // first `?` starts the query (found by the `redirect_uri` fuzz
    // target): a path ending in `&` still needs its `?`, and a query
    // ending in a second `?` needs its `&`, or the first parameter would
    // land in the path or in the last value.
    let mut sep = match redirect_uri.split_once('?') {
        None => '?',
        Some((_, q)) if q.is_empty() || q.ends_with('&') => '\0',
        Some(_) => '&',
    };
    for (k, v) in params {
        if sep != '\0' {
            out.push(sep);
        }
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
        sep = '&';
    }
    out
}

/// Checks a resource indicator (RFC 8707 §2): absolute URI, no fragment.
///
/// # Errors
/// `invalid_target` when it is not.
pub fn validate_resource(r: &str) -> Result<(), Error> {
    match split_uri(r) {
        Some(p) if !p.has_fragment && !p.host.is_empty() => Ok(()),
        _ => Err(Error::InvalidTarget(
            "resource must be an absolute URI without a fragment".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_match_only() {
        let r = "https://app.example/cb";
        assert!(redirect_matches(r, r));
        for p in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example:443/cb",
            "https://app.example/c%62",
            "https://app.example/cb#f",
        ] {
            assert!(!redirect_matches(r, p), "{p}");
        }
    }

    #[test]
    fn loopback_literals_must_be_canonical() {
        // Found by the redirect_uri fuzz target: `u8` parsing took
        // `0000000000000` and `+0` as octets.
        for bad in [
            "http://127.0.0000000000000.1/callback",
            "http://127.+0.0.1/cb",
            "http://127.0.0.01/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("http://127.1.2.3/cb").is_ok());
    }

    #[test]
    fn percent_encoding_must_be_well_formed() {
        // Found by the redirect_uri fuzz target: a registered query of
        // `http://%` was accepted, and a form parser then refused the whole
        // redirect query, so the client could not read its code.
        for bad in [
            "http://127.0.0.1/callback?http://%",
            "https://app.example.com/cb?x=%4",
            "https://app.example.com/c%zzb",
            "com.example.app:/cb%",
            // Well formed, but 0xAC alone is no UTF-8: found next.
            "https://ape/cb?x=/je%acen",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(validate_redirect_uri("https://app.example.com/c%C3%A9?x=%2F").is_ok());
    }

    #[test]
    fn loopback_port_may_vary_for_ip_literals_only() {
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53123/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/other"
        ));
        assert!(!redirect_matches(
            "http://localhost/cb",
            "http://localhost:5/cb"
        ));
        assert!(!redirect_matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:5/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.2:5/cb"
        ));
    }

    #[test]
    fn registration_rules() {
        assert!(validate_redirect_uri("https://app.example/cb?x=1").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("http://[::1]:8080/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(validate_redirect_uri("io.github.alice.tool:/cb").is_ok());
        for bad in [
            "accounts.google.com:/callback",
            "callback.example.com:/cb",
            "example.:/cb",
            "http://app.example/cb",
            "http://localhost/cb",
            "https://app.example/cb#x",
            "/relative",
            "https://user@app.example/cb",
            "javascript:alert(1)",
            "https:///cb",
            "https://app.example:99999/cb",
            "https://evil.example\\.app.example/cb",
            "https://evil.example%2f.app.example/cb",
            "https://app.example/cb?code=x",
            "https://app.example/cb?a=1&state=x",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_is_appended() {
        assert_eq!(
            with_query("https://a/cb", &[("code", "x y")]),
            "https://a/cb?code=x%20y"
        );
        assert_eq!(
            with_query("https://a/cb?k=v", &[("a", "1"), ("b", "2")]),
            "https://a/cb?k=v&a=1&b=2"
        );
        assert_eq!(redirect_host("https://App.Example:8443/cb"), "app.example");
        assert!(host_within("login.app.example", "app.example"));
        assert!(!host_within("evilapp.example", "app.example"));
    }

    #[test]
    fn a_path_ending_in_an_ampersand_still_gets_its_query() {
        assert_eq!(
            with_query("http://127.0.0.1/cb&", &[("code", "c")]),
            "http://127.0.0.1/cb&?code=c"
        );
        assert_eq!(
            with_query("https://a/cb?", &[("code", "c")]),
            "https://a/cb?code=c"
        );
        assert_eq!(
            with_query("https://a/cb?x=1&", &[("code", "c")]),
            "https://a/cb?x=1&code=c"
        );
        // A `?` inside the query separates nothing.
        assert_eq!(
            with_query("https://a/cb?x=y?", &[("code", "c")]),
            "https://a/cb?x=y?&code=c"
        );
    }

    #[test]
    fn a_private_use_scheme_belongs_to_its_reversed_domain() {
        assert_eq!(redirect_domain("com.Example.app:/cb"), "app.example.com");
        assert_eq!(
            redirect_domain("https://Login.App.Example/cb"),
            "login.app.example"
        );
        assert_eq!(redirect_domain("not a uri"), "");
        assert!(on_domain("com.example.app:/cb", "example.com"));
        assert!(!on_domain("com.example.app:/cb", "example.app"));
        assert!(on_domain("https://login.app.example/cb", "app.example"));
        assert!(!on_domain("https://evilapp.example/cb", "app.example"));
    }

    proptest! {
        #[test]
        fn matching_is_reflexive_and_never_panics(a in "\\PC{0,60}", b in "\\PC{0,60}") {
            prop_assert!(redirect_matches(&a, &a));
            let _ = redirect_matches(&a, &b);
            let _ = validate_redirect_uri(&a);
        }

        #[test]
        fn a_different_non_loopback_uri_never_matches(path in "/[a-z]{1,8}", other in "/[a-z]{1,8}") {
            let r = format!("https://app.example{path}");
            let p = format!("https://app.example{other}");
            prop_assert_eq!(redirect_matches(&r, &p), path == other);
        }
    }
}
