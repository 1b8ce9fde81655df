//! What the browser flow reads from a browser: `Cookie` headers (RFC 6265
//! §5.4), the session they name, the consent form (after CSRF), `next`
//! parameters (RFC 9700 §4.11) and `Origin`/`Referer` (the CSRF second
//! line). Each is checked against a reference written here.
#![no_main]

use latchkey::http::{HttpRequest, Params};
use latchkey::web::flow::{read_decision, Choice};
use latchkey::web::{SessionConfig, Sessions};
use latchkey_fuzz::{block_on, check_form, ISSUER};
use libfuzzer_sys::fuzz_target;

/// Flags: partial approval (bit 0), an `Origin` (bit 1), a `Referer`
/// (bit 2). Fields: the cookie name, `Cookie` headers separated by `|`,
/// `next`, origin, referer, then the consent form body.
struct Input {
    cookies: Vec<String>,
    name: String,
    consent: String,
    partial: bool,
    next: String,
    origin: Option<String>,
    referer: Option<String>,
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let (f, v) = latchkey_fuzz::fields(data, 6);
        Input {
            name: v[0].clone(),
            cookies: if v[1].is_empty() {
                vec![]
            } else {
                v[1].split('|').map(str::to_owned).collect()
            },
            next: v[2].clone(),
            origin: (f & 2 != 0).then(|| v[3].clone()),
            referer: (f & 4 != 0).then(|| v[4].clone()),
            consent: v[5].clone(),
            partial: f & 1 != 0,
        }
    }
}

/// RFC 6265 §5.4 as the library reads it: `;`-separated `name=value`
/// pairs, whitespace around both trimmed; one value only when `name`
/// appears exactly once with a non-empty value.
fn reference_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let values: Vec<&str> = header
        .split(';')
        .filter_map(|kv| {
            let kv = kv.trim();
            let eq = kv.find('=')?;
            (kv[..eq].trim() == name).then(|| kv[eq + 1..].trim())
        })
        .collect();
    match values.as_slice() {
        [one] if !one.is_empty() => Some(one),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(data);
    // Cookies.
    let mut req = HttpRequest::new("POST");
    for c in &input.cookies {
        req.headers.push(("Cookie".into(), c.clone()));
    }
    let joined = latchkey::web::joined_cookie_header(&req);
    assert_eq!(joined.is_none(), input.cookies.is_empty());
    if let Some(j) = &joined {
        assert_eq!(*j, input.cookies.join("; "));
        assert_eq!(
            latchkey::web::single_cookie(j, &input.name),
            reference_cookie(j, &input.name),
            "cookie {:?} in {j:?}",
            input.name
        );
    }
    // A cookie the library sets is read back (for cookie-safe names and values).
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    };
    if token(&input.name) && input.cookies.first().is_some_and(|v| token(v)) {
        let value = &input.cookies[0];
        let set = latchkey::web::set_cookie(&input.name, value, true);
        let sent = set.split(';').next().unwrap();
        assert_eq!(
            latchkey::web::single_cookie(sent, &input.name),
            Some(value.as_str())
        );
    }

    // Sessions: no cookie text finds a session that was never created; the
    // real one is found only by its exact id.
    block_on(async {
        let sessions = Sessions::in_memory(SessionConfig::for_issuer(ISSUER));
        let (s, set) = sessions
            .load_or_create_from_header(None)
            .await
            .expect("new session");
        let set = set.expect("a new session sets its cookie");
        let cookie = set.split(';').next().unwrap().to_owned();
        let header = joined.as_deref().map(|j| j.replace("@session", &cookie));
        let found = sessions
            .load_from_header(header.as_deref())
            .await
            .expect("memory store");
        let name = &sessions.config().cookie_name;
        let presented = header
            .as_deref()
            .and_then(|h| latchkey::web::single_cookie(h, name));
        match found {
            Some(f) => {
                assert_eq!(f.key(), s.key(), "another session found");
                assert_eq!(Some(cookie.split_once('=').unwrap().1), presented);
            }
            None => assert_ne!(
                Some(cookie.split_once('=').unwrap().1),
                presented,
                "own cookie not found"
            ),
        }
        // Origin and Referer: a post passes only from the issuer's origin.
        let mut post = HttpRequest::new("POST");
        if let Some(o) = &input.origin {
            post.headers.push(("Origin".into(), o.clone()));
        }
        if let Some(r) = &input.referer {
            post.headers.push(("Referer".into(), r.clone()));
        }
        let same = latchkey::web::same_origin(&post, ISSUER);
        match (&input.origin, &input.referer) {
            (Some(o), _) => assert_eq!(same, o.eq_ignore_ascii_case(ISSUER), "Origin {o:?}"),
            (None, Some(r)) => {
                if same {
                    let rest = r
                        .get(..ISSUER.len())
                        .filter(|head| head.eq_ignore_ascii_case(ISSUER))
                        .map(|_| &r[ISSUER.len()..]);
                    assert!(
                        rest.is_some_and(|t| t.is_empty() || t.starts_with(['/', '?', '#'])),
                        "Referer {r:?} passed as same-origin"
                    );
                }
            }
            (None, None) => assert!(same, "a post with neither header passes"),
        }
    });

    // The consent form.
    if let Some(params) = check_form(&input.consent) {
        if let Ok(form) = read_decision(&params, input.partial) {
            check_decision(&params, &form.challenge, &form.choice, input.partial);
        }
    }

    // `next`: only same-origin paths.
    if let Some(n) = latchkey::web::safe_next(&input.next) {
        let b = n.as_bytes();
        assert_eq!(b[0], b'/');
        assert!(
            !matches!(b.get(1), Some(b'/' | b'\\')),
            "{n:?} leaves the origin"
        );
        assert!(!n.contains('\\') && !n.chars().any(|c| c.is_control() || c.is_whitespace()));
    }
});

fn check_decision(params: &Params, challenge: &str, choice: &Choice, partial: bool) {
    assert_eq!(params.single("challenge").unwrap(), Some(challenge));
    let decision = params.single("decision").unwrap();
    match choice {
        Choice::Allow(d) => {
            assert_eq!(decision, Some("allow"));
            assert_eq!(d.remember, params.single("remember").unwrap() == Some("on"));
            match &d.scopes {
                Some(s) => {
                    assert!(partial, "scopes read without partial approval");
                    let want: std::collections::BTreeSet<&str> =
                        params.all("scope").iter().map(String::as_str).collect();
                    assert_eq!(s.iter().collect::<std::collections::BTreeSet<_>>(), want);
                }
                None => assert!(!partial, "partial approval without scopes"),
            }
        }
        Choice::Deny => assert_eq!(decision, Some("deny")),
        Choice::SwitchAccount => assert_eq!(decision, Some("switch_account")),
        _ => panic!("unknown choice"),
    }
}
