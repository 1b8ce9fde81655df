//! Which strings are client identifier URLs (draft §3).

/// Longest URL client id accepted: what every storage backend keeps as a
/// client id (MySQL's `VARCHAR(255)`); the draft recommends short ones.
pub(crate) const MAX_URL_LEN: usize = 255;

/// Whether `client_id` claims to be a URL, so the engine answers with why
/// it is not a usable one rather than "unknown client".
pub(crate) fn looks_like_url(client_id: &str) -> bool {
    ["https:", "http:"].iter().any(|p| {
        client_id
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    })
}

/// Checks a client identifier URL against draft §3: the `https` scheme, a
/// host, a path, no single- or double-dot path segment (percent-encoded
/// too), no fragment, no username or password. A query and a port are
/// allowed. The string is kept exactly as given (§4.1 compares the
/// document's `client_id` with it as a plain string), so the scheme must
/// be spelled in lower case.
///
/// # Errors
/// A description of the first rule broken, safe to show.
pub fn check_client_id_url(url: &str) -> Result<(), &'static str> {
    if url.len() > MAX_URL_LEN {
        return Err("the client_id URL is longer than 255 characters");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the client_id URL must be ASCII without spaces or control characters");
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("the client_id URL must use the https scheme");
    };
    if url.contains('#') {
        return Err("the client_id URL must not contain a fragment");
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("the client_id URL must not contain a username or password");
    }
    let host = match authority.rsplit_once(':') {
        // `[v6]` alone has colons inside the brackets, not a port.
        Some((h, port)) if !port.contains(']') => {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the client_id URL has a malformed port");
            }
            h
        }
        _ => authority,
    };
    if host.is_empty() {
        return Err("the client_id URL must name a host");
    }
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    if !path.starts_with('/') {
        return Err("the client_id URL must contain a path");
    }
    if path.split('/').any(is_dot_segment) {
        return Err("the client_id URL must not contain . or .. path segments");
    }
    Ok(())
}

/// `.` or `..`, also spelled with `%2e` (RFC 3986 §2.3: the same segment).
fn is_dot_segment(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_section_3_rules() {
        for ok in [
            "https://app.example/client.json",
            "https://app.example/",
            "https://app.example:8443/oauth/client",
            "https://app.example/c?v=2",
            "https://[2001:db8::1]/c",
            "https://app.example/a.b/..c/.d",
        ] {
            assert_eq!(check_client_id_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://app.example/client.json",
            "HTTPS://app.example/client.json",
            "https://app.example",
            "https://app.example?x=1",
            "https:///client.json",
            "https://app.example/client.json#frag",
            "https://user@app.example/client.json",
            "https://user:pw@app.example/client.json",
            "https://app.example/./client.json",
            "https://app.example/a/../client.json",
            "https://app.example/a/..",
            "https://app.example/%2E%2e/client.json",
            "https://app.example/a/%2e/b",
            "https://app.example:x/c",
            "https://app.example/c lient",
            "https://app.example/caf\u{e9}",
            "",
        ] {
            assert!(check_client_id_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_client_id_url(&long).is_err());
    }

    #[test]
    fn url_candidates() {
        assert!(looks_like_url("https://a.example/c"));
        assert!(looks_like_url("HTTP://a.example/c"));
        assert!(!looks_like_url("lkc_abc"));
        assert!(!looks_like_url("é"));
    }
}
