//! Which domain names may be claimed: DNS host names only (RFC 1123 §2.1
//! letters, digits and hyphens), never an IP literal or anything a
//! resolver or URL parser would read another way, and never a public
//! suffix (`co.uk`, `github.io`): nobody owns those, everybody under them
//! does, so proving one would vouch for strangers.

/// Why a name was refused. The text is safe to show to the developer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDomain {
    /// Not a multi-label DNS host name.
    #[error("domain must be a DNS name such as app.example.com")]
    NotAHostName,
    /// A public suffix (Public Suffix List): claim a name registered under
    /// it instead.
    #[error("a public suffix such as co.uk or github.io cannot be claimed; claim your own name under it")]
    PublicSuffix,
}

/// The claimable form of `name`: lower case, without a trailing dot.
///
/// Refuses anything that is not a multi-label host name of letters,
/// digits and inner hyphens, 63 bytes a label and 253 in all, and names
/// whose last label is all digits: `127.0.0.1` passes every label rule,
/// but it is an address, and a top-level domain is never numeric
/// (RFC 3696 §2).
///
/// # Errors
/// [`InvalidDomain`].
pub fn check_domain_name(name: &str) -> Result<String, InvalidDomain> {
    let d = host_name(name).ok_or(InvalidDomain::NotAHostName)?;
    // No registrable domain: the name is itself a public suffix.
    if psl::domain_str(&d).is_none() {
        return Err(InvalidDomain::PublicSuffix);
    }
    Ok(d)
}

/// `name` in canonical form when it is a multi-label host name.
fn host_name(name: &str) -> Option<String> {
    let d = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels_ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let numeric_tld = d
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    (labels_ok && !numeric_tld).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_pass_in_canonical_form() {
        assert_eq!(
            check_domain_name("App.Example.COM.").unwrap(),
            "app.example.com"
        );
        assert_eq!(
            check_domain_name("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(check_domain_name("a-1.b2.io").unwrap(), "a-1.b2.io");
    }

    #[test]
    fn addresses_and_junk_are_refused() {
        for bad in [
            "",
            ".",
            "localhost",
            "example",
            "127.0.0.1",
            "10.0.0.1.",
            "[::1]",
            "::1",
            "0x7f.1",
            "1.2.3.4",
            "a..b",
            ".example.com",
            "-a.example.com",
            "a-.example.com",
            "a_b.example.com",
            "a b.example.com",
            "example.com/evil",
            "user@example.com",
            "example.com:443",
            "ex\u{e4}mple.com",
            "*.example.com",
        ] {
            assert_eq!(
                check_domain_name(bad),
                Err(InvalidDomain::NotAHostName),
                "{bad:?}"
            );
        }
        assert!(check_domain_name(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(check_domain_name(&format!("{}com", "a.".repeat(126))).is_err());
    }

    #[test]
    fn public_suffixes_are_refused_and_names_under_them_pass() {
        for suffix in ["co.uk", "github.io", "com.au", "blogspot.com", "CO.UK."] {
            assert_eq!(
                check_domain_name(suffix),
                Err(InvalidDomain::PublicSuffix),
                "{suffix}"
            );
        }
        for owned in ["example.co.uk", "alice.github.io", "app.example.com"] {
            assert!(check_domain_name(owned).is_ok(), "{owned}");
        }
    }
}
