//! The developer console of the signed-in user's account, and the home
//! page. Its pages are the demo's own HTML in the library's look
//! ([`crate::page`]).
//!
//! Every form post redirects back to `/console` when it worked
//! (post/redirect/get: a reload never registers or rotates twice); a
//! secret to show once waits in memory ([`Reveal`]) for that next page
//! view. A failed post shows the console again with the error and what was
//! typed. Delete and rotate ask for a second click (`<details>`, no
//! script) and are refused without it.
//!
//! Domain verification: "Check now" looks for the published challenge
//! (the DNS TXT record, then the HTTPS well-known file) with
//! `Engine::verify_domain` and says which check failed and why. Verified
//! domains are re-checked by the maintenance task; one whose proof is gone
//! shows as lapsed. "Confirm without checking" is an operator override for
//! offline demos: only with `--trust-domain-claims`, and only for the users
//! named by `--operator`, never for any signed-in developer.
//!
//! Roles: every change goes to the engine with the signed-in member and
//! their role ([`latchkey::Acting`]); the engine refuses what the role does
//! not allow (a viewer changes nothing; a developer rotates and deletes
//! only the apps they created) and names the member, their address and
//! browser on the outbox event. The page hides the buttons a role cannot
//! use, but the engine's check is what holds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey::audit::ClientAction;
use latchkey::clients::{ClientRegistration, ClientUpdate};
use latchkey::domains::DomainCheckError;
use latchkey::http::{HttpRequest, HttpResponse, Params};
use latchkey::model::{AuthMethod, ClientRecord, DomainState, Visibility};
use latchkey::web::{Session, SessionKey};
use latchkey::{Acting, Actor, ManageError, Principal, Role, Source};

use crate::page::{csrf_field, escape, messages, page, redirect};
use crate::App;
use latchkey::ui::format_utc;
use latchkey::web::routes::Route;

const PATH: &str = "/console";

/// The console's routes.
pub fn routes(app: &Arc<App>) -> Vec<Route> {
    vec![
        crate::page_route(app, "GET", PATH, |app, req| Box::pin(show(app, req))),
        crate::page_route(app, "POST", "/console/apps", |app, req| {
            Box::pin(register(app, req))
        }),
        crate::page_route(app, "POST", "/console/rotate", |app, req| {
            Box::pin(rotate(app, req))
        }),
        crate::page_route(app, "POST", "/console/delete", |app, req| {
            Box::pin(delete(app, req))
        }),
        crate::page_route(app, "POST", "/console/domain", |app, req| {
            Box::pin(start_domain(app, req))
        }),
        crate::page_route(app, "POST", "/console/domain/confirm", |app, req| {
            Box::pin(confirm_domain(app, req))
        }),
        crate::page_route(app, "POST", "/console/domain/trust", |app, req| {
            Box::pin(trust_domain(app, req))
        }),
        crate::page_route(app, "POST", "/console/visibility", |app, req| {
            Box::pin(visibility(app, req))
        }),
    ]
}

/// Client secrets to show once, on the console page that follows the post
/// that made them. In memory: they never reach the session store, and are
/// dropped after five minutes if nobody looks.
#[derive(Default)]
pub struct Reveal(Mutex<HashMap<SessionKey, (String, String, Instant)>>);

impl Reveal {
    const TTL: Duration = Duration::from_secs(300);

    fn put(&self, s: &Session, client_id: &str, secret: &str) {
        let mut m = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.retain(|_, (_, _, at)| at.elapsed() < Self::TTL);
        m.insert(
            s.key().clone(),
            (client_id.into(), secret.into(), Instant::now()),
        );
    }

    fn take(&self, s: &Session) -> Option<(String, String)> {
        let mut m = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (id, secret, at) = m.remove(s.key())?;
        (at.elapsed() < Self::TTL).then_some((id, secret))
    }
}

/// What a failed post shows: status, message, and what was typed.
#[derive(Default)]
struct Shown {
    status: u16,
    error: Option<String>,
    /// The register form as typed.
    form: Option<Params>,
    /// `(client_id, domain)` as typed in a domain form.
    domain: Option<(String, String)>,
}

fn fail(status: u16, msg: impl Into<String>) -> Shown {
    Shown {
        status,
        error: Some(msg.into()),
        ..Shown::default()
    }
}

fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.single(name).ok().flatten().unwrap_or("")
}

/// `GET /`: what this server is.
pub async fn home(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    let s = app.sessions.load(&req).await.ok().flatten();
    let demo = if app.demo_clients {
        "<li><a href=\"/demo\">Demo client</a>: run a real authorization flow and see the tokens</li>"
    } else {
        ""
    };
    let body = format!(
        "<p>A demo OAuth 2.1 authorization server built on Latchkey.</p><ul>{demo}\
         <li><a href=\"/account/apps\">Connected apps</a>: what you have authorized</li>\
         <li><a href=\"/console\">Developer console</a>: register and manage apps</li>\
         <li><a href=\"/.well-known/oauth-authorization-server\">Server metadata</a></li></ul>\
         <p class=\"small\">Demo users: <code>alice</code> and <code>bob</code>.</p>"
    );
    let nav = s.as_ref().and_then(|s| app.account.nav(s));
    page(app.ui(), 200, "Latchkey demo", nav.as_ref(), &body)
}

async fn show(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    match app.account.signed_in(&req, PATH).await {
        Ok((s, p, _)) => {
            let by = acting(&app, &p, &req);
            render(&app, &s, &p, &by, Shown::default()).await
        }
        Err(r) => r,
    }
}

/// The signed-in member as the engine sees them: their role in the account
/// (a user the directory no longer knows only views), from this request.
fn acting(app: &App, p: &Principal, req: &HttpRequest) -> Acting {
    let role = app.users.role(&p.subject).unwrap_or(Role::Viewer);
    Acting::member(&p.subject, &p.account, role, Source::of(req))
}

/// Runs `action` on a signed-in, CSRF-checked post; `Ok(notice)` redirects
/// to the console with the notice, `Err` shows the console with the error.
async fn post_action<F, Fut>(app: Arc<App>, req: HttpRequest, action: F) -> HttpResponse
where
    F: FnOnce(Arc<App>, Session, Principal, Params, Acting) -> Fut,
    Fut: std::future::Future<Output = Result<String, Shown>>,
{
    let (s, p, form) = match app.account.signed_in(&req, PATH).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let by = acting(&app, &p, &req);
    match action(app.clone(), s.clone(), p.clone(), form, by.clone()).await {
        Ok(notice) => {
            let _ = app.sessions.set_flash(&s, notice).await;
            redirect(PATH)
        }
        Err(shown) => render(&app, &s, &p, &by, shown).await,
    }
}

/// The app named by the form, if the user's account owns it.
async fn owned(app: &App, p: &Principal, form: &Params) -> Result<ClientRecord, Shown> {
    match app.engine.get_client(field(form, "client_id")).await {
        Ok(c) if c.owner == p.account => Ok(c),
        Ok(_) => Err(fail(404, "no such client")),
        Err(e) => {
            let (status, msg) = e.user_facing();
            Err(fail(status, msg))
        }
    }
}

fn confirmed(form: &Params, what: &str) -> Result<(), Shown> {
    if field(form, "confirm") == "yes" {
        Ok(())
    } else {
        Err(fail(
            400,
            format!("Nothing changed: confirm with \"{what}\" first."),
        ))
    }
}

fn engine_fail(e: &ManageError) -> Shown {
    let (status, msg) = e.user_facing();
    fail(status, msg)
}

/// `POST /console/apps`: registers a private app; its secret is shown once
/// on the page that follows.
async fn register(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, s, p, form, by| async move {
        let keep = |mut shown: Shown| {
            shown.form = Some(form.clone());
            shown
        };
        if form.all("scope").is_empty() {
            return Err(keep(fail(400, "Choose at least one scope.")));
        }
        let public = field(&form, "client_type") == "public";
        let reg = ClientRegistration {
            owner: p.account.clone(),
            name: field(&form, "name").trim().to_owned(),
            redirect_uris: field(&form, "redirect_uris")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            scopes: form.all("scope").to_vec(),
            auth_method: Some(if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            }),
            resources: vec![app.resource.clone()],
            // New apps are private: public needs a verified domain first.
            visibility: Some(Visibility::Private),
            ..ClientRegistration::default()
        };
        let r = app
            .engine
            .register_client(&by, reg)
            .await
            .map_err(|e| keep(engine_fail(&e)))?;
        if let Some(secret) = &r.secret {
            app.reveal.put(&s, &r.client.id, secret.expose());
        }
        Ok(format!("Registered {}.", r.client.name))
    })
    .await
}

/// `POST /console/rotate` (with `confirm=yes`): a new secret, shown once;
/// the old one keeps working for the engine's overlap period.
async fn rotate(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, s, p, form, by| async move {
        let c = owned(&app, &p, &form).await?;
        confirmed(&form, "Yes, rotate")?;
        let secret = app
            .engine
            .rotate_client_secret(&by, &c.id)
            .await
            .map_err(|e| engine_fail(&e))?;
        app.reveal.put(&s, &c.id, secret.expose());
        Ok("Secret rotated. The previous secret keeps working for a day.".into())
    })
    .await
}

/// `POST /console/delete` (with `confirm=yes`): the app, its grants and
/// every token go.
async fn delete(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, _, p, form, by| async move {
        let c = owned(&app, &p, &form).await?;
        confirmed(&form, "Yes, delete")?;
        app.engine
            .delete_client(&by, &c.id)
            .await
            .map_err(|e| engine_fail(&e))?;
        Ok(format!("Deleted {}.", c.name))
    })
    .await
}

/// `POST /console/domain`: starts proving ownership of `domain`; the
/// console then shows the record to publish.
async fn start_domain(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, _, p, form, by| async move {
        let c = owned(&app, &p, &form).await?;
        let domain = field(&form, "domain").trim().to_owned();
        let keep = |mut shown: Shown| {
            shown.domain = Some((c.id.clone(), domain.clone()));
            shown
        };
        app.engine
            .start_domain_verification(&by, &c.id, &domain)
            .await
            .map_err(|e| keep(engine_fail(&e)))?;
        Ok("Verification started: publish the record shown below.".into())
    })
    .await
}

/// `POST /console/domain/confirm`: looks for the published challenge and
/// marks the domain verified when it is found; otherwise says, per check,
/// what was seen.
async fn confirm_domain(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, _, p, form, by| async move {
        let c = owned(&app, &p, &form).await?;
        let domain = field(&form, "domain");
        match app
            .engine
            .verify_domain(&by, &c.id, domain, &*app.domain_verifier)
            .await
        {
            Ok(_) => Ok("Domain verified.".into()),
            Err(DomainCheckError::NotProven(e)) => Err(fail(
                400,
                format!(
                    "Not verified yet. {}. Publish the value shown and check again.",
                    e.explain(domain)
                ),
            )),
            Err(DomainCheckError::Manage(e)) => Err(engine_fail(&e)),
            Err(e) => Err(fail(500, e.to_string())),
        }
    })
    .await
}

/// Whether `p` may confirm domains unchecked: `--trust-domain-claims` and
/// named by `--operator`.
fn is_operator(app: &App, p: &Principal) -> bool {
    app.trust_domain_claims && app.operators.contains(&p.subject)
}

/// `POST /console/domain/trust`: marks the domain verified without
/// checking (operators only; see module docs).
async fn trust_domain(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, _, p, form, by| async move {
        if !is_operator(&app, &p) {
            return Err(fail(
                403,
                "Only an operator of this server (--operator, with --trust-domain-claims) may \
                 confirm a domain without checking it. Use \"Check now\".",
            ));
        }
        let c = owned(&app, &p, &form).await?;
        // A named operator acts as an operator of the server here: the
        // event says so, with their address and browser.
        let operator = Acting::operator(&p.subject, by.audit().source.clone());
        app.engine
            .confirm_domain(&operator, &c.id, field(&form, "domain"))
            .await
            .map_err(|e| engine_fail(&e))?;
        Ok("Domain confirmed without checking (operator override).".into())
    })
    .await
}

/// `POST /console/visibility`: `public` (needs a verified domain hosting
/// every redirect URI; the engine checks) or `private`.
async fn visibility(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    post_action(app, req, |app, _, p, form, by| async move {
        let c = owned(&app, &p, &form).await?;
        let visibility = match field(&form, "visibility") {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            _ => return Err(fail(400, "visibility must be public or private")),
        };
        let update = ClientUpdate {
            visibility: Some(visibility),
            ..ClientUpdate::default()
        };
        app.engine
            .update_client(&by, &c.id, update)
            .await
            .map_err(|e| engine_fail(&e))?;
        Ok("Visibility changed.".into())
    })
    .await
}

// ---- rendering ----

/// A small form posting `client_id` (and `inner`) to `action`.
fn form(action: &str, csrf: &str, client_id: &str, inner: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"inline\">{}\
         <input type=\"hidden\" name=\"client_id\" value=\"{}\">{inner}\
         <button type=\"submit\">{button}</button></form>",
        csrf_field(csrf),
        escape(client_id),
    )
}

/// A button that asks first: `<details>` opens a warning and the real
/// button (which sends `confirm=yes`). No script.
fn confirm_form(
    action: &str,
    csrf: &str,
    c: &ClientRecord,
    label: &str,
    warning: &str,
    yes: &str,
) -> String {
    format!(
        "<details class=\"confirm\"><summary class=\"button danger\">{label}</summary>\
         <div class=\"note warn\"><p>{warning}</p>\
         <form method=\"post\" action=\"{action}\">{csrf}\
         <input type=\"hidden\" name=\"client_id\" value=\"{id}\">\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <button type=\"submit\" class=\"danger\">{yes}</button></form></div></details>",
        csrf = csrf_field(csrf),
        id = escape(&c.id),
    )
}

fn domains(c: &ClientRecord, csrf: &str, operator: bool, typed: Option<&str>) -> String {
    let mut out = String::new();
    for d in &c.domains {
        let name = escape(&d.domain);
        let hidden = format!("<input type=\"hidden\" name=\"domain\" value=\"{name}\">");
        let last_failure = d.last_failure.as_ref().map_or(String::new(), |f| {
            format!(
                "<br><span class=\"small\">Last check {}: {}</span>",
                format_utc(f.at),
                escape(&f.reason)
            )
        });
        let _ = match &d.state {
            DomainState::Verified { at } => write!(
                out,
                "<p><b>{name}</b> <span class=\"tag\">verified {}</span>{checked}{last_failure}</p>",
                format_utc(*at),
                checked = d.checked_at.map_or(String::new(), |t| format!(
                    " <span class=\"small\">last seen published {}</span>",
                    format_utc(t)
                )),
            ),
            DomainState::Lapsed { at, .. } => write!(
                out,
                "<div class=\"note warn\"><p><b>{name}</b>: verification lapsed {}: the \
                 published value was no longer found, so the app is not shown as verified. \
                 Start again to get a new value to publish.{last_failure}</p></div>",
                format_utc(*at),
            ),
            DomainState::Pending { expires_at } => {
                let mut confirm = form(
                    "/console/domain/confirm",
                    csrf,
                    &c.id,
                    &hidden,
                    "Check now",
                );
                if operator {
                    confirm.push_str(&form(
                        "/console/domain/trust",
                        csrf,
                        &c.id,
                        &hidden,
                        "Confirm without checking (operator)",
                    ));
                }
                write!(
                    out,
                    "<p><b>{name}</b>: pending until {until}. Publish this DNS record:</p>\
                     <table class=\"record\"><tr><th scope=\"col\">Type</th><th scope=\"col\">Name</th>\
                     <th scope=\"col\">Value</th></tr><tr><td>TXT</td>\
                     <td><code>_latchkey-challenge.{name}</code></td>\
                     <td><code class=\"challenge\">{value}</code></td></tr></table>\
                     <p class=\"small\">or serve the value at \
                     <code>https://{name}/.well-known/latchkey-challenge</code>, then check.</p>\
                     {confirm}",
                    until = format_utc(*expires_at),
                    value = escape(&d.challenge),
                )
            }
            _ => write!(out, "<p><b>{name}</b> expired: start again.</p>"),
        };
    }
    let input_id = format!("domain-{}", escape(&c.id));
    out.push_str(&form(
        "/console/domain",
        csrf,
        &c.id,
        &format!(
            "<label for=\"{input_id}\">Domain that hosts the redirect URIs</label>\
             <input type=\"text\" id=\"{input_id}\" name=\"domain\" placeholder=\"app.example.com\" \
             value=\"{}\" required> ",
            escape(typed.unwrap_or(""))
        ),
        "Start domain verification",
    ));
    out
}

fn app_box(c: &ClientRecord, csrf: &str, operator: bool, by: &Acting, shown: &Shown) -> String {
    let may = |action| by.check(action, c).is_ok();
    let confidential = c.auth_method.is_confidential();
    let kind = if confidential {
        format!(
            "confidential (<code>{}</code>)",
            escape(c.auth_method.as_str())
        )
    } else {
        "public (PKCE only, no secret)".to_owned()
    };
    let visibility = match c.visibility {
        Visibility::Private => "private to your account",
        _ => "public: any user may authorize it",
    };
    let uris: Vec<String> = c
        .redirect_uris
        .iter()
        .map(|u| format!("<code>{}</code>", escape(u)))
        .collect();
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    let mut actions = String::new();
    if confidential && may(ClientAction::RotateSecret) {
        let warn = "The new secret is shown once. The old one keeps working for a day; update the app before then.";
        actions.push_str(&confirm_form(
            "/console/rotate",
            csrf,
            c,
            "Rotate secret…",
            warn,
            "Yes, rotate",
        ));
    }
    let to = |v: &str, label: &str| {
        let inner = format!("<input type=\"hidden\" name=\"visibility\" value=\"{v}\">");
        form("/console/visibility", csrf, &c.id, &inner, label)
    };
    let mut visibility = visibility.to_owned();
    let may_update = may(ClientAction::Update);
    match c.visibility {
        Visibility::Private if !may_update => {}
        Visibility::Private if c.verified_domains().next().is_some() => actions.push_str(&to("public", "Make public")),
        Visibility::Private => visibility.push_str(
            "<br><span class=\"small\">Verify a domain that hosts every redirect URI to make it public.</span>",
        ),
        _ if may_update => actions.push_str(&to("private", "Make private")),
        _ => {}
    }
    let warn = format!(
        "Delete <b>{}</b>? Its grants and every token it holds stop working at once.",
        escape(&c.name)
    );
    if may(ClientAction::Delete) {
        actions.push_str(&confirm_form(
            "/console/delete",
            csrf,
            c,
            "Delete app…",
            &warn,
            "Yes, delete",
        ));
    }
    let typed = shown
        .domain
        .as_ref()
        .filter(|(id, _)| *id == c.id)
        .map(|(_, d)| d.as_str());
    format!(
        "<section class=\"box app\"><h2><bdi>{name}</bdi></h2><table class=\"info\">\
         <tr><th scope=\"row\">Client id</th><td><code class=\"client-id\">{id}</code></td></tr>\
         <tr><th scope=\"row\">Type</th><td>{kind}</td></tr>\
         <tr><th scope=\"row\">Visibility</th><td>{visibility}</td></tr>\
         <tr><th scope=\"row\">Redirect URIs</th><td>{uris}</td></tr>\
         <tr><th scope=\"row\">Scopes</th><td><code>{scopes}</code></td></tr>\
         <tr><th scope=\"row\">Grant types</th><td>{grants}</td></tr>\
         <tr><th scope=\"row\">Secret</th><td>{secret}</td></tr>\
         <tr><th scope=\"row\">Created by</th><td>{creator}</td></tr></table>\
         <h3>Domains</h3>{domains}<div class=\"actions\">{actions}</div></section>",
        name = escape(&c.name),
        id = escape(&c.id),
        uris = uris.join("<br>"),
        scopes = escape(&c.scopes.to_string()),
        grants = escape(&grants.join(", ")),
        secret = if confidential {
            "stored only as a hash; shown once at creation and rotation"
        } else {
            "none"
        },
        domains = if may_update {
            domains(c, csrf, operator, typed)
        } else {
            String::new()
        },
        creator = creator(c),
    )
}

/// Who registered `c`, as the console shows it.
fn creator(c: &ClientRecord) -> String {
    match &c.created_by {
        Some(Actor::User { subject }) => format!("<bdi>{}</bdi>", escape(subject)),
        Some(Actor::Operator { .. }) => "an operator of this server".to_owned(),
        Some(Actor::Client { .. }) => "the app itself (dynamic registration)".to_owned(),
        _ => "unknown (only account owners may rotate or delete it)".to_owned(),
    }
}

fn register_form(app: &App, csrf: &str, typed: Option<&Params>) -> String {
    let get = |n: &str| typed.map_or("", |f| field(f, n));
    let ticked: Vec<&str> = typed
        .map(|f| f.all("scope").iter().map(String::as_str).collect())
        .unwrap_or_default();
    let registry = &app.engine.config().scopes;
    let mut scopes = String::new();
    for name in registry.names() {
        let desc = registry.get(name).map_or("", |d| d.description.as_str());
        let checked = if ticked.contains(&name) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            scopes,
            "<li><input type=\"checkbox\" name=\"scope\" value=\"{n}\" id=\"scope-{n}\"{checked}> \
             <label for=\"scope-{n}\"><code>{n}</code> — {d}</label></li>",
            n = escape(name),
            d = escape(desc)
        );
    }
    let public = get("client_type") == "public";
    let (conf, publ) = if public {
        ("", " checked")
    } else {
        (" checked", "")
    };
    format!(
        "<h2 id=\"register\">Register an app</h2><form method=\"post\" action=\"/console/apps\" class=\"box\">\
         {csrf}<label for=\"app-name\">Name</label>\
         <input type=\"text\" id=\"app-name\" name=\"name\" required maxlength=\"100\" value=\"{name}\">\
         <label for=\"app-uris\">Redirect URIs, one per line (https, or http on 127.0.0.1 for local \
         tools)</label><textarea id=\"app-uris\" name=\"redirect_uris\" rows=\"3\" required>{uris}</textarea>\
         <fieldset><legend>Scopes (at least one)</legend><ul class=\"scopes\">{scopes}</ul></fieldset>\
         <fieldset><legend>Client type</legend>\
         <label><input type=\"radio\" name=\"client_type\" value=\"confidential\"{conf}> \
         Confidential: a server that can keep a secret</label>\
         <label><input type=\"radio\" name=\"client_type\" value=\"public\"{publ}> Public: a \
         native or browser app (PKCE, no secret)</label></fieldset>\
         <p class=\"small\">New apps are private to your account. Verify a domain to make one \
         public.</p><button type=\"submit\" class=\"primary\">Register</button></form>",
        csrf = csrf_field(csrf),
        name = escape(get("name")),
        uris = escape(get("redirect_uris")),
    )
}

async fn render(app: &App, s: &Session, p: &Principal, by: &Acting, shown: Shown) -> HttpResponse {
    let clients = match app.engine.list_clients(&p.account).await {
        Ok(c) => c,
        Err(e) => return app.account.manage_error(&e, s),
    };
    let csrf = s.csrf.expose();
    let notice = app.sessions.take_flash(s).await.ok().flatten();
    let mut body = messages(notice.as_deref(), shown.error.as_deref());
    if let Some((id, secret)) = app.reveal.take(s) {
        let _ = write!(
            body,
            "<div class=\"note ok\"><p>Client secret of <code>{}</code>. Copy it now: it is shown \
             <b>only this once</b>.</p><p><code class=\"secret\">{}</code></p></div>",
            escape(&id),
            escape(&secret)
        );
    }
    if clients.is_empty() {
        body.push_str("<p>Your account has no apps yet.</p>");
    }
    // A failed registration shows its form (as typed) first, under the
    // error; otherwise the form follows the apps.
    let register = if by
        .check_owner(ClientAction::Register, &p.account, None)
        .is_ok()
    {
        register_form(app, csrf, shown.form.as_ref())
    } else {
        "<p class=\"small\">You are a viewer of this account: you can see its apps, not change them.</p>".to_owned()
    };
    if shown.form.is_some() {
        body.push_str(&register);
    }
    for c in &clients {
        body.push_str(&app_box(c, csrf, is_operator(app, p), by, &shown));
    }
    if shown.form.is_none() {
        body.push_str(&register);
    }
    let nav = app.account.nav(s);
    let status = if shown.status == 0 { 200 } else { shown.status };
    page(app.ui(), status, "Developer console", nav.as_ref(), &body)
}
