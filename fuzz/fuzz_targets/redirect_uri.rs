//! Redirect URIs (RFC 6749 §3.1.2, OAuth 2.1 §2.3, RFC 8252 §7): the
//! splitter, the registration rules, exact matching with the loopback-port
//! exception (RFC 8252 §7.3), appending the response parameters, the
//! verified-domain rule, and domain names as claimed.
//!
//! Each is checked against a reference written here from the RFCs: a
//! split must put the URI back together; a match must be equality or a
//! port change on a loopback IP literal; a registered URI has no fragment
//! or userinfo and goes to https, loopback http or a reverse-domain
//! scheme; a URI counts as on a domain when the DNS name it goes to (the
//! host, or the private-use scheme read backwards, RFC 8252 §7.1) is that
//! domain or under it.
#![no_main]

use std::sync::OnceLock;

use latchkey::clock::Timestamp;
use latchkey::model::{ClientRecord, DomainState, DomainVerification};
use latchkey::redirect::{
    redirect_matches, split_uri, validate_redirect_uri, validate_resource, with_query,
};
use latchkey_fuzz::{block_on, harness, query_param};
use libfuzzer_sys::fuzz_target;

/// Fields: registered URI, presented URI, domain, then `name=value`
/// response parameters one a line (the flag byte is unused).
struct Input {
    registered: String,
    presented: String,
    domain: String,
    params: Vec<(String, String)>,
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let (_, v) = latchkey_fuzz::fields(data, 4);
        let params = v[3]
            .lines()
            .map(|l| l.split_once('=').unwrap_or((l, "")))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Input {
            registered: v[0].clone(),
            presented: v[1].clone(),
            domain: v[2].clone(),
            params,
        }
    }
}

/// Whether `host` is `127.a.b.c` (decimal octets) or `[::1]`.
fn loopback_literal(host: &str) -> bool {
    if host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && (*o == "0" || !o.starts_with('0'))
                && o.bytes().all(|b| b.is_ascii_digit())
                && o.parse::<u16>().is_ok_and(|n| n < 256)
        })
}

/// `http://HOST[:port]REST` parts when `uri` is one.
fn http_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (h, port) = authority.split_at(close + 1);
        (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok() && p.bytes().all(|b| b.is_ascii_digit())))
        .then_some(h)?
    } else {
        let (h, port) = authority.split_once(':').unwrap_or((authority, "0"));
        (port.parse::<u16>().is_ok() && port.bytes().all(|b| b.is_ascii_digit())).then_some(h)?
    };
    Some((host, path))
}

/// RFC 8252 §7.3: exact, or loopback http differing only in the port.
fn reference_match(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let ok = |u: &str| {
        u.len() <= 2000 && !u.contains('#') && !u.chars().any(|c| c.is_control() || c == ' ')
    };
    match (http_parts(registered), http_parts(presented)) {
        (Some((rh, rp)), Some((ph, pp))) => {
            ok(registered) && ok(presented) && rh == ph && loopback_literal(rh) && rp == pp
        }
        _ => false,
    }
}

/// The DNS name a redirect URI goes to: its host, or for a private-use
/// scheme without authority the scheme read backwards (RFC 8252 §7.1).
fn reference_domain(uri: &str) -> Option<String> {
    let p = split_uri(uri)?;
    if !p.host.is_empty() {
        return Some(p.host.to_ascii_lowercase());
    }
    let labels: Vec<&str> = p.scheme.split('.').rev().collect();
    Some(labels.join(".").to_ascii_lowercase())
}

fn template() -> &'static ClientRecord {
    static T: OnceLock<ClientRecord> = OnceLock::new();
    T.get_or_init(|| block_on(async { harness().await.app.client.clone() }))
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(data);
    let (r, p) = (input.registered.as_str(), input.presented.as_str());

    // The splitter puts the URI back together.
    if let Some(parts) = split_uri(r) {
        let port = parts.port.map(|p| format!(":{p}")).unwrap_or_default();
        let with_authority = format!("{}://{}{}{}", parts.scheme, parts.host, port, parts.rest);
        let without = format!("{}:{}", parts.scheme, parts.rest);
        assert!(
            with_authority == r || (parts.host.is_empty() && parts.port.is_none() && without == r),
            "split of {r:?}: {parts:?}"
        );
        assert_eq!(parts.has_fragment, r.contains('#'));
    }

    // Matching.
    assert_eq!(
        redirect_matches(r, p),
        reference_match(r, p),
        "match {r:?} / {p:?}"
    );

    // Registration rules.
    if validate_redirect_uri(r).is_ok() {
        let parts = split_uri(r).expect("a valid redirect URI splits");
        assert!(!r.contains('#'), "fragment in {r:?}");
        match parts.scheme {
            "https" => assert!(!parts.host.is_empty()),
            "http" => assert!(loopback_literal(parts.host), "http off loopback: {r:?}"),
            s => {
                assert!(
                    parts.host.is_empty() && s.contains('.'),
                    "private-use scheme {r:?}"
                );
                // An empty authority (`com.example.app:///cb`) is allowed:
                // the scheme alone picks the app.
            }
        }
        // The response parameters come back out of the redirect.
        let base_keys: Vec<String> = r
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .map(|kv| kv.split('=').next().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let params: Vec<(&str, &str)> = input
            .params
            .iter()
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !base_keys.iter().any(|b| b == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .take(8)
            .collect();
        let out = with_query(r, &params);
        assert!(out.starts_with(r.trim_end_matches(['?', '&'])));
        // The reader (the engine's own form parser) takes at most
        // MAX_PARAMS pairs of at most MAX_VALUE_BYTES each, and refuses
        // the whole query otherwise: a registered query may already hold
        // many pairs, and one long parameter hides the others.
        let readable = out.split('&').count() <= latchkey::http::MAX_PARAMS
            && params
                .iter()
                .all(|(k, v)| k.len().max(v.len()) <= latchkey::http::MAX_VALUE_BYTES);
        for (k, v) in &params {
            if readable && params.iter().filter(|(k2, _)| k2 == k).count() == 1 {
                assert_eq!(
                    query_param(&out, k).as_deref(),
                    Some(*v),
                    "parameter {k:?} of {out:?}"
                );
            }
        }
    }

    // Resource indicators (RFC 8707 §2): absolute, with a host, no fragment.
    if validate_resource(p).is_ok() {
        let parts = split_uri(p).expect("a valid resource splits");
        assert!(!p.contains('#') && !parts.host.is_empty());
    }

    // Domain names as claimed, and the verified-domain rule.
    if let Ok(d) = latchkey::domains::check_domain_name(&input.domain) {
        assert_eq!(
            latchkey::domains::check_domain_name(&d),
            Ok(d.clone()),
            "not canonical"
        );
        assert!(!d.ends_with('.') && d == d.to_ascii_lowercase() && d.contains('.'));
        if validate_redirect_uri(r).is_ok() {
            let mut c = template().clone();
            c.redirect_uris = vec![r.to_owned()];
            c.domains = vec![DomainVerification {
                domain: d.clone(),
                challenge: "x".into(),
                state: DomainState::Verified { at: Timestamp(1) },
                started_at: Timestamp(0),
                checked_at: None,
                last_failure: None,
            }];
            let on = reference_domain(r).is_some_and(|h| h == d || h.ends_with(&format!(".{d}")));
            assert_eq!(c.publisher_verified(), on, "{r:?} on verified domain {d:?}");
        }
    }
});
