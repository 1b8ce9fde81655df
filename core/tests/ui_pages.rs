//! The ready pages: what they say, what they escape, the headers they
//! carry, and the consent form read back.
#![cfg(feature = "ui")]

mod common;

use common::*;
use latchkey::clock::Timestamp;
use latchkey::http::{HttpResponse, Params};
use latchkey::model::Visibility;
use latchkey::scope::{ScopeInfo, ScopeSet};
use latchkey::ui::{
    AppRow, ConnectedAppsPage, ConsentPage, ErrorPage, Nav, SignInPage, Strings, Theme, Ui,
};
use latchkey::web::flow::{read_decision, Choice};
use latchkey::{ConsentPrompt, Secret};

fn prompt(name: &str, redirect: &str, visibility: Visibility, domains: &[&str]) -> ConsentPrompt {
    let info = |n: &str, d: &str| ScopeInfo {
        name: n.into(),
        description: d.into(),
    };
    ConsentPrompt {
        challenge: Secret::new("lk_ch_test"),
        client_id: "lkc_123".into(),
        client_name: name.into(),
        visibility,
        verified_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        lapsed_domains: vec![],
        redirect_uri: redirect.into(),
        redirect_host: latchkey::redirect::redirect_host(redirect),
        scopes: vec![
            info("dns:edit", "Create, change and delete DNS records"),
            info("dns:read", "View DNS records"),
            info("profile:read", "Read your name"),
            info("offline_access", "Keep access"),
        ],
        requested: ScopeSet::parse("dns:edit profile:read offline_access").unwrap(),
        resources: vec!["https://api.example/".into()],
        expires_at: Timestamp(0),
    }
}

fn html(r: &HttpResponse) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

fn page<'a>(p: &'a ConsentPrompt, partial: bool) -> ConsentPage<'a> {
    ConsentPage {
        prompt: p,
        user: "alice",
        csrf: "csrf-token",
        action: "/oauth/consent",
        switch_account: true,
        apps_url: Some("/account/apps"),
        partial_approval: partial,
        nav: None,
    }
}

#[test]
fn consent_says_when_a_domain_proof_lapsed() {
    let ui = Ui::default();
    let mut p = prompt("Mail", "https://mail.example/cb", Visibility::Public, &[]);
    p.lapsed_domains = vec!["mail.example".into()];
    let body = html(&ui.consent(&page(&p, false)));
    assert!(
        body.contains("once proved it owns <b><bdi>mail.example</bdi></b>"),
        "{body}"
    );
    assert!(body.contains("no longer published"));
    assert!(!body.contains("Published by the owner of"));
}

#[test]
fn consent_tells_the_truth_about_the_app() {
    let ui = Ui::default();
    let p = prompt(
        "Evil <script>alert(1)</script>",
        "https://app.example/cb",
        Visibility::Public,
        &[],
    );
    let r = ui.consent(&page(&p, false));
    let body = html(&r);
    assert_eq!(r.status, 200);
    assert!(!body.contains("<script>"), "app name must be escaped");
    assert!(body.contains("&#60;script&#62;"), "{body}");
    assert!(body.contains("Nobody has verified who publishes this app"));
    assert!(
        body.contains("<b><bdi>app.example</bdi></b>"),
        "destination host shown"
    );
    assert!(body.contains("keep this access while you are away"));
    assert!(body.contains("can change or delete"), "dns:edit marked");
    assert!(
        body.contains("lkc_123") && body.contains("https://api.example/"),
        "details"
    );
    assert!(body.contains("Not you? Switch account"));
    // Allow is the primary button and comes first.
    let allow = body
        .find("value=\"allow\" class=\"primary\"")
        .expect("allow primary");
    assert!(allow < body.find("value=\"deny\"").unwrap());

    assert!(!body.contains("describes itself"));

    // A client identified by its metadata document URL: its host is named.
    let mut described = prompt(
        "Agent",
        "http://127.0.0.1:3000/cb",
        Visibility::Unvetted,
        &[],
    );
    described.client_id = "https://agent.example/client.json".into();
    let body = html(&ui.consent(&page(&described, false)));
    assert!(body.contains("Nobody has verified who publishes this app"));
    assert!(
        body.contains("The app describes itself on <b><bdi>agent.example</bdi></b>"),
        "{body}"
    );

    let own = prompt(
        "Acme Dashboard",
        "https://app.example/cb",
        Visibility::Private,
        &[],
    );
    let body = html(&ui.consent(&page(&own, false)));
    assert!(body.contains("belongs to your organisation"));
    assert!(
        !body.contains("Nobody has verified"),
        "no stranger warning on own apps"
    );

    let verified = prompt(
        "Acme",
        "https://app.acme.example/cb",
        Visibility::Public,
        &["acme.example"],
    );
    let body = html(&ui.consent(&page(&verified, false)));
    assert!(body.contains("<b><bdi>acme.example</bdi></b>"));
}

#[test]
fn attacker_names_cannot_reorder_the_page() {
    let ui = Ui::default();
    // U+202E RIGHT-TO-LEFT OVERRIDE: isolated in <bdi>, it cannot flip the
    // words around it.
    let p = prompt(
        "\u{202e}ppA beW omeD",
        "https://app.example/cb",
        Visibility::Public,
        &[],
    );
    let body = html(&ui.consent(&page(&p, false)));
    assert!(body.contains("<bdi class=\"app\">\u{202e}ppA beW omeD</bdi>"));
    assert!(body.contains("<h1 dir=\"auto\">"));
    // <title> takes no markup: Unicode's isolates end the override there.
    assert!(
        body.contains("\u{2068}\u{202e}ppA beW omeD\u{2069}"),
        "title isolated: {body}"
    );
    // The built-in plain pages isolate too.
    let session = futures_lite_block(
        latchkey::web::Sessions::in_memory(latchkey::web::SessionConfig::for_issuer(
            "https://auth.example",
        ))
        .load_or_create_from_header(None),
    )
    .unwrap()
    .0;
    use latchkey::web::flow::Pages as _;
    let plain = html(&latchkey::web::flow::PlainPages.consent(&p, &session, "/c"));
    assert!(plain.contains("<bdi>\u{202e}ppA beW omeD</bdi>"), "{plain}");
    assert!(
        plain.contains("<title>Authorize \u{2068}\u{202e}ppA"),
        "{plain}"
    );
}

#[test]
fn private_use_schemes_are_apps_not_hosts() {
    let ui = Ui::default();
    for (uri, expect) in [
        (
            "accounts.google.com:/callback",
            "<code><bdi>accounts.google.com:</bdi></code>",
        ),
        (
            "com.example.app:/oauth",
            "<code><bdi>com.example.app:</bdi></code>",
        ),
        ("http://127.0.0.1:4711/cb", "a program on this computer"),
        ("http://[::1]/cb", "a program on this computer"),
        ("http://localhost/cb", "a program on this computer"),
    ] {
        let p = prompt("CLI", uri, Visibility::Public, &[]);
        let body = html(&ui.consent(&page(&p, false)));
        assert!(body.contains(expect), "{uri}: {body}");
        assert!(!body.contains("sent to <b>"), "{uri} shown as a web host");
    }
}

#[test]
fn partial_approval_offers_only_requested_scopes() {
    let ui = Ui::default();
    let p = prompt("App", "https://app.example/cb", Visibility::Public, &[]);
    let body = html(&ui.consent(&page(&p, true)));
    assert!(body.contains("name=\"scope\" value=\"dns:edit\""));
    assert!(body.contains("name=\"scope\" value=\"profile:read\""));
    assert!(
        !body.contains("name=\"scope\" value=\"dns:read\""),
        "implied, not requested"
    );
    // Long-lived access is a choice too: unticked, no refresh token.
    assert!(
        body.contains("name=\"scope\" value=\"offline_access\" id=\"scope-offline\" checked"),
        "offline_access must be sent back when approved"
    );
    assert!(
        body.matches("<label for=\"scope-").count() >= 2,
        "labelled controls"
    );
    let body = html(&ui.consent(&page(&p, false)));
    assert!(!body.contains("name=\"scope\""));

    let form = Params::parse("challenge=c&decision=allow&scope=profile%3Aread&remember=on&csrf=x")
        .unwrap();
    let f = read_decision(&form, true).unwrap();
    let Choice::Allow(d) = f.choice else {
        panic!("allow")
    };
    assert_eq!(d.scopes, Some(ScopeSet::parse("profile:read").unwrap()));
    assert!(d.remember);
    let f = read_decision(&form, false).unwrap();
    assert!(
        matches!(f.choice, Choice::Allow(d) if d.scopes.is_none()),
        "scope ignored without partial approval"
    );
    let deny = Params::parse("challenge=c&decision=deny").unwrap();
    assert!(matches!(
        read_decision(&deny, true).unwrap().choice,
        Choice::Deny
    ));
    let switch = Params::parse("challenge=c&decision=switch_account").unwrap();
    assert!(matches!(
        read_decision(&switch, true).unwrap().choice,
        Choice::SwitchAccount
    ));
    let odd = Params::parse("challenge=c&decision=maybe").unwrap();
    assert_eq!(
        read_decision(&odd, true).unwrap_err().code(),
        "invalid_request"
    );
}

#[test]
fn every_page_carries_the_security_headers() {
    let ui = Ui::new(
        Theme {
            product_name: "Acme ID".into(),
            stylesheet_url: Some("https://cdn.acme.example/id.css".into()),
            ..Theme::default()
        },
        Strings::english(),
    );
    let nav = Nav {
        user: "alice".into(),
        csrf: "x".into(),
        sign_out_action: "/logout".into(),
        links: vec![],
    };
    let p = prompt("App", "https://app.example/cb", Visibility::Public, &[]);
    let pages = [
        ui.consent(&page(&p, false)),
        ui.sign_in(
            200,
            &SignInPage {
                csrf: "x",
                action: "/login",
                ..Default::default()
            },
        ),
        ui.connected_apps(&ConnectedAppsPage {
            apps: &[],
            csrf: "x",
            revoke_action: "/account/apps/revoke",
            notice: None,
            nav: Some(&nav),
        }),
        ui.error(&ErrorPage {
            status: 400,
            title: "Something went wrong",
            message: "m",
            next_step: "n",
            ..Default::default()
        }),
    ];
    for r in &pages {
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert!(
            csp.contains("'sha256-") && csp.contains("https://cdn.acme.example"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert!(!csp.contains("script-src"));
        assert!(html(r).contains("Acme ID"));
    }
    assert_eq!(pages[3].status, 400);
}

#[test]
fn apps_and_errors_escape_and_guide() {
    let ui = Ui::default();
    let h = futures_lite_block(async {
        let h = harness().await;
        let _ = h.tokens("dns:edit").await;
        h
    });
    let apps = futures_lite_block(h.engine.connected_apps("alice")).unwrap();
    let rows: Vec<AppRow> = apps
        .iter()
        .map(|a| AppRow::new(a, |t| t.0.to_string()))
        .collect();
    let body = html(&ui.connected_apps(&ConnectedAppsPage {
        apps: &rows,
        csrf: "tok",
        revoke_action: "/account/apps/revoke",
        notice: Some("Access revoked"),
        nav: None,
    }));
    assert!(body.contains("Acme Dashboard"));
    assert!(body.contains(&format!("value=\"{}\"", apps[0].grant_id)));
    assert!(body.contains("aria-label=\"Revoke access: Acme Dashboard\""));
    assert!(body.contains("can change or delete"));

    let body = html(&ui.error(&ErrorPage {
        status: 400,
        title: "This link does not work",
        message: "The app sent a redirect address it did not register.",
        next_step: "Go back to the app and try again.",
        app_name: Some("Acme <b>"),
        details: vec![("redirect_uri", "https://evil.example/\"><script>")],
        nav: None,
    }));
    assert!(!body.contains("<script>") && !body.contains("Acme <b>"));
    assert!(body.contains("Details for developers"));
}

fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
