//! Token strings and prefixes (the opaque credential format), scope
//! strings (RFC 6749 §3.3) and resource indicators (RFC 8707 §2), each
//! against a reference written here from the format's definition.
#![no_main]

use latchkey::entropy::SeededEntropy;
use latchkey::token::{Keyring, TokenKind};
use latchkey::ScopeSet;
use libfuzzer_sys::fuzz_target;

/// Flags: the token kind. Fields: presented credential text, scope
/// string, scope tokens separated by tabs, resource indicator; the
/// minting seed is the input's length.
struct Input {
    kind: u8,
    text: String,
    seed: u64,
    scope: String,
    tokens: Vec<String>,
    resource: String,
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let (f, v) = latchkey_fuzz::fields(data, 4);
        Input {
            kind: f,
            text: v[0].clone(),
            seed: data.len() as u64,
            scope: v[1].clone(),
            tokens: if v[2].is_empty() {
                vec![]
            } else {
                v[2].split('\t').map(str::to_owned).collect()
            },
            resource: v[3].clone(),
        }
    }
}

const KINDS: [TokenKind; 8] = [
    TokenKind::AccessToken,
    TokenKind::RefreshToken,
    TokenKind::AuthorizationCode,
    TokenKind::ConsentChallenge,
    TokenKind::ClientSecret,
    TokenKind::RegistrationAccessToken,
    TokenKind::DeviceCode,
    TokenKind::JwtId,
];

/// base64url without padding, decoded by hand (RFC 4648 §5): `None` for
/// any character outside the alphabet or a length that leaves bits over.
fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = vec![];
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    (n < 6 && bits == 0).then_some(out)
}

/// A credential of `kind`: its prefix, then 33 bytes (key id, 32 random)
/// in base64url, under a key id the ring holds (1 or 2).
fn reference_credential(kind: TokenKind, text: &str) -> bool {
    text.strip_prefix(kind.prefix())
        .filter(|body| body.len() == 44)
        .and_then(b64url)
        .is_some_and(|raw| raw.len() == 33 && (raw[0] == 1 || raw[0] == 2))
}

/// RFC 6749 §3.3 with the library's limits (64 tokens of 128 bytes).
fn reference_scope(s: &str) -> bool {
    let toks: Vec<&str> = s.split(' ').collect();
    toks.len() <= 64
        && toks.iter().all(|t| {
            !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        })
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(data);
    let ring = Keyring::new(&[(1, [42u8; 32]), (2, [7u8; 32])]).unwrap();
    let kind = KINDS[usize::from(input.kind) % KINDS.len()];

    // Presented text is a credential exactly when the reference says so.
    let hashed = ring.hash(kind, &input.text);
    assert_eq!(
        hashed.is_some(),
        reference_credential(kind, &input.text),
        "{kind:?} {:?}",
        input.text
    );
    if let Some(h) = hashed {
        assert!(ring.matches(&input.text, &h));
    }

    // A minted credential is one, of its own kind only.
    let (secret, hash) = ring.mint(kind, &SeededEntropy::new(input.seed)).unwrap();
    assert!(reference_credential(kind, secret.expose()));
    assert_eq!(ring.hash(kind, secret.expose()), Some(hash));
    for other in KINDS {
        if other != kind {
            assert_eq!(
                ring.hash(other, secret.expose()),
                None,
                "{kind:?} read as {other:?}"
            );
        }
    }
    assert!(
        !format!("{secret:?}").contains(secret.expose()),
        "Debug shows a secret"
    );

    // Scopes.
    match ScopeSet::parse(&input.scope) {
        Ok(set) => {
            assert!(reference_scope(&input.scope), "accepted {:?}", input.scope);
            let text = set.to_string();
            assert_eq!(ScopeSet::parse(&text).unwrap(), set, "scope round trip");
            assert_eq!(ScopeSet::from_tokens(set.iter()).unwrap(), set);
            for t in input.scope.split(' ') {
                assert!(set.contains(t));
            }
            assert!(set.len() <= input.scope.split(' ').count());
        }
        Err(e) => {
            assert!(!reference_scope(&input.scope), "refused {:?}", input.scope);
            assert_eq!(e.code(), "invalid_scope");
        }
    }
    if let Ok(set) = ScopeSet::from_tokens(input.tokens.iter().map(String::as_str)) {
        if !set.is_empty() && set.len() <= 64 {
            assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set);
        }
        let other = ScopeSet::parse("profile:read dns:read").unwrap();
        let u = set.union(&other);
        assert!(set.is_subset(&u) && other.is_subset(&u));
    }

    // Resource indicators: absolute URI with a host, no fragment.
    if latchkey::redirect::validate_resource(&input.resource).is_ok() {
        let r = &input.resource;
        let (scheme, rest) = r.split_once("://").expect("absolute with authority");
        assert!(!scheme.is_empty() && scheme.bytes().next().unwrap().is_ascii_alphabetic());
        assert!(!r.contains('#') && !r.chars().any(|c| c.is_control() || c == ' '));
        let host_end = rest.find(['/', '?', ':']).unwrap_or(rest.len());
        assert!(host_end > 0 && !rest[..rest.find(['/', '?']).unwrap_or(rest.len())].contains('@'));
    }
});
