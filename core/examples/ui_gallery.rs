//! Writes every ready page, in the default theme and a custom one, to a
//! directory, to look at in a browser (or screenshot headless):
//! `cargo run -p latchkey --features ui --example ui_gallery -- DIR`.

use std::path::PathBuf;

use latchkey::clock::Timestamp;
use latchkey::model::Visibility;
use latchkey::scope::{ScopeInfo, ScopeSet};
use latchkey::ui::{
    AppRow, Colour, ConnectedAppsPage, ConsentPage, ErrorPage, Nav, NavLink, SignInPage, Strings,
    Theme, Ui,
};
use latchkey::{ConsentPrompt, Secret};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "ui-gallery".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let custom = Ui::new(
        Theme {
            product_name: "Acme Cloud".into(),
            accent: Colour::parse("#f4b400").expect("colour"),
            ..Theme::default()
        },
        Strings::english(),
    );
    let nav = Nav {
        user: "alice".into(),
        csrf: "csrf".into(),
        sign_out_action: "/logout".into(),
        links: vec![NavLink {
            href: "/account/apps".into(),
            label: "Connected apps".into(),
        }],
    };
    let info = |n: &str, d: &str| ScopeInfo {
        name: n.into(),
        description: d.into(),
    };
    let prompt = |name: &str, uri: &str, vis: Visibility, domains: Vec<String>| ConsentPrompt {
        challenge: Secret::new("lk_ch_example"),
        client_id: "lkc_9f2Yc1yQm0aZ".into(),
        client_name: name.into(),
        visibility: vis,
        verified_domains: domains,
        lapsed_domains: vec![],
        redirect_uri: uri.into(),
        redirect_host: latchkey::redirect::redirect_host(uri),
        scopes: vec![
            info("dns:edit", "Create, change and delete DNS records"),
            info("dns:read", "View DNS records of your zones"),
            info("zones:read", "List your zones and their settings"),
            info("profile:read", "Read your name and account"),
            info("offline_access", "Keep access"),
        ],
        requested: ScopeSet::parse("dns:edit zones:read profile:read offline_access")
            .expect("scopes"),
        resources: vec!["https://api.acme.example/".into()],
        expires_at: Timestamp(0),
    };
    let third = prompt(
        "Terraform Cloud Agent",
        "https://agent.terraform.example/callback",
        Visibility::Public,
        vec![],
    );
    let cli = prompt(
        "acme-cli",
        "com.acme.cli:/oauth/callback",
        Visibility::Public,
        vec![],
    );
    let own = prompt(
        "Acme Dashboard",
        "https://dash.acme.example/cb",
        Visibility::Private,
        vec![],
    );
    for (ui, tag) in [(Ui::default(), "default"), (custom, "custom")] {
        let page = |p| ConsentPage {
            prompt: p,
            user: "alice@acme.example",
            csrf: "csrf",
            action: "/oauth/consent",
            switch_account: true,
            apps_url: Some("/account/apps"),
            partial_approval: true,
            nav: Some(&nav),
        };
        let pages = [
            ("consent-third-party", ui.consent(&page(&third))),
            ("consent-cli", ui.consent(&page(&cli))),
            ("consent-own", ui.consent(&page(&own))),
            (
                "sign-in",
                ui.sign_in(
                    401,
                    &SignInPage {
                        csrf: "csrf",
                        action: "/login",
                        next: Some("/oauth/consent"),
                        app_name: Some("Terraform Cloud Agent"),
                        username: "alice",
                        error: Some("Wrong username or password."),
                    },
                ),
            ),
            (
                "apps",
                ui.connected_apps(&ConnectedAppsPage {
                    apps: &[AppRow {
                        grant_id: "lkg_1".into(),
                        name: "Terraform Cloud Agent".into(),
                        verified_domains: vec![],
                        permissions: AppRow::new(
                            &latchkey::connected_apps::ConnectedApp {
                                grant_id: "lkg_1".into(),
                                client_id: "lkc_1".into(),
                                client_name: "Terraform Cloud Agent".into(),
                                verified_domains: vec![],
                                scopes: third.scopes.clone(),
                                granted_at: Timestamp(0),
                                last_used_at: Timestamp(0),
                            },
                            |_| String::new(),
                        )
                        .permissions,
                        granted_at: "3 Dec 2026".into(),
                        last_used_at: "today".into(),
                    }],
                    csrf: "csrf",
                    revoke_action: "/account/apps/revoke",
                    notice: Some("Access for Acme Dashboard was revoked."),
                    nav: Some(&nav),
                }),
            ),
            (
                "error",
                ui.error(&ErrorPage {
                    status: 400,
                    title: "This sign-in link does not work",
                    message: "The app asked to send you to an address it never registered.",
                    next_step: "Go back to the app and try again. If it keeps happening, tell the app's developer.",
                    app_name: Some("Terraform Cloud Agent"),
                    details: vec![("redirect_uri", "https://evil.example/cb")],
                    nav: Some(&nav),
                }),
            ),
        ];
        for (name, r) in pages {
            std::fs::write(dir.join(format!("{tag}-{name}.html")), r.body)?;
        }
    }
    println!("wrote the pages to {}", dir.display());
    Ok(())
}
