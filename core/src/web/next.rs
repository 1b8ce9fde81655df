//! The open-redirect guard for `next` parameters (RFC 9700 §4.11: an
//! authorization server must not become an open redirector).

/// Longest `next` followed.
pub const MAX_NEXT_LEN: usize = 2048;

/// `next` when it is a same-origin relative path, else `None`.
///
/// Refused: anything not starting with `/`; scheme-relative `//host`;
/// `/\host`, which browsers read as `//host` (WHATWG URL treats `\` as `/`
/// in special schemes); control characters and spaces, which browsers strip
/// before parsing; and over-long values.
#[must_use]
pub fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let ok = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && next.len() <= MAX_NEXT_LEN
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

/// Where to send the browser after sign-in: `next` if [`safe_next`] accepts
/// it, else `fallback`.
#[must_use]
pub fn after_sign_in<'a>(next: Option<&'a str>, fallback: &'a str) -> &'a str {
    next.and_then(safe_next).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next("/console"), Some("/console"));
        assert!(safe_next("/oauth/consent?challenge=a%2Fb").is_some());
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "\\\\evil",
            "/\t/evil.example",
            "console",
            "",
            "javascript:alert(1)",
        ] {
            assert!(safe_next(bad).is_none(), "{bad:?}");
        }
        assert!(safe_next(&format!("/{}", "a".repeat(MAX_NEXT_LEN))).is_none());
        assert_eq!(after_sign_in(Some("//evil.example"), "/"), "/");
        assert_eq!(after_sign_in(None, "/home"), "/home");
    }
}
