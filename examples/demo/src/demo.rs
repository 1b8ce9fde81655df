//! `/demo`: a built-in client of this server. It starts a real
//! authorization-code flow with PKCE for the seeded public client
//! [`DEMO_APP_ID`], and on its callback exchanges the code at the token
//! endpoint and shows what came back (tokens masked but for a prefix), so
//! nobody has to copy a code off a "site can't be reached" page.
//!
//! It is a client like any other: it only holds the `state` and PKCE
//! verifier of each flow it started (in memory, ten minutes), bound to the
//! browser by a cookie, and talks to the engine through the same token
//! endpoint and bearer check any client and API use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use latchkey::entropy::{Entropy as _, SystemEntropy};
use latchkey::http::{encode_form, HttpRequest, HttpResponse, Params};
use latchkey::web::BearerGuard;
use latchkey::web::{joined_cookie_header, single_cookie};

use crate::page::{escape, page, redirect};
use crate::seed::DEMO_APP_ID;
use crate::App;
use crate::ME_SCOPE;
use latchkey::web::routes::Route;

const COOKIE: &str = "latchkey_demo_state";
const TTL: Duration = Duration::from_secs(600);
const MAX_FLOWS: usize = 1000;

/// The demo client's routes.
pub fn routes(app: &Arc<App>) -> Vec<Route> {
    vec![
        crate::page_route(app, "GET", "/demo", |app, req| {
            Box::pin(start_page(app, req))
        }),
        crate::page_route(app, "GET", "/demo/start", |app, req| {
            Box::pin(start(app, req))
        }),
        crate::page_route(app, "GET", "/demo/callback", |app, req| {
            Box::pin(callback(app, req))
        }),
    ]
}

/// Flows in progress: `state` → (PKCE verifier, started).
#[derive(Default)]
pub struct Flows(Mutex<HashMap<String, (String, Instant)>>);

impl Flows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn random() -> Option<String> {
    let mut b = [0u8; 32];
    SystemEntropy::new().fill(&mut b).ok()?;
    Some(URL_SAFE_NO_PAD.encode(b))
}

/// The first characters of a token, enough to tell tokens apart.
fn mask(token: &str) -> String {
    let prefix: String = token.chars().take(12).collect();
    format!("{prefix}… ({} characters)", token.chars().count())
}

fn callback_url(app: &App) -> String {
    format!("{}/demo/callback", app.issuer())
}

fn off(app: &App) -> HttpResponse {
    let msg = "The built-in demo clients are off (the server was started with --no-demo-clients).";
    app.account.error(404, "Demo client unavailable", msg, None)
}

/// `GET /demo`: pick scopes and start.
async fn start_page(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    if !app.demo_clients {
        return off(&app);
    }
    let s = app.sessions.load(&req).await.ok().flatten();
    let registry = &app.engine.config().scopes;
    let mut scopes = String::new();
    for name in registry.names() {
        let desc = registry.get(name).map_or("", |d| d.description.as_str());
        let checked = if name == ME_SCOPE { " checked" } else { "" };
        scopes.push_str(&format!(
            "<li><input type=\"checkbox\" name=\"scope\" value=\"{n}\" id=\"s-{n}\"{checked}> \
             <label for=\"s-{n}\"><code>{n}</code> — {d}</label></li>",
            n = escape(name),
            d = escape(desc)
        ));
    }
    let body = format!(
        "<p>This page is a client of this server, registered as <code>{DEMO_APP_ID}</code> (public, \
         PKCE). It sends you through a real authorization: sign in, consent, then back here, where it \
         exchanges the code for tokens and shows them.</p>\
         <form method=\"get\" action=\"/demo/start\"><fieldset><legend>Ask for</legend>\
         <ul class=\"scopes\">{scopes}</ul></fieldset>\
         <button type=\"submit\" class=\"primary\">Start the flow</button></form>\
         <p class=\"small\">An authorization code lives 60 seconds and works once: presenting it a \
         second time revokes the tokens it gave. A refresh token is issued only with \
         <code>offline_access</code>.</p>"
    );
    let nav = s.as_ref().and_then(|s| app.account.nav(s));
    page(app.ui(), 200, "Demo client", nav.as_ref(), &body)
}

/// `GET /demo/start?scope=…`: a new state and PKCE pair, then off to the
/// authorization endpoint.
async fn start(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    if !app.demo_clients {
        return off(&app);
    }
    let q = Params::parse(&req.query).unwrap_or_default();
    let mut scope = q.all("scope").join(" ");
    if scope.is_empty() {
        scope = ME_SCOPE.into();
    }
    let (Some(state), Some(verifier)) = (random(), random()) else {
        return app
            .account
            .error(500, "Something went wrong", "randomness failed", None);
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest);
    {
        let mut flows = app.demo_flows.lock();
        flows.retain(|_, (_, at)| at.elapsed() < TTL);
        if flows.len() >= MAX_FLOWS {
            return app.account.error(
                503,
                "Try again in a moment",
                "Too many demo flows at once.",
                None,
            );
        }
        flows.insert(state.clone(), (verifier, Instant::now()));
    }
    let callback = callback_url(&app);
    let query = encode_form(&[
        ("response_type", "code"),
        ("client_id", DEMO_APP_ID),
        ("redirect_uri", &callback),
        ("scope", &scope),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", &app.resource),
    ]);
    let secure = if app.issuer().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut r = redirect(&format!("/oauth/authorize?{query}"));
    let cookie =
        format!("{COOKIE}={state}; Path=/demo; Max-Age=600; HttpOnly; SameSite=Lax{secure}");
    r.headers.push(("Set-Cookie".into(), cookie));
    r
}

/// `GET /demo/callback`: checks `state` against this browser's cookie,
/// exchanges the code with the verifier, and shows the result.
async fn callback(app: Arc<App>, req: HttpRequest) -> HttpResponse {
    let s = app.sessions.load(&req).await.ok().flatten();
    let q = Params::parse(&req.query).unwrap_or_default();
    let get = |n| q.single(n).ok().flatten().unwrap_or("");
    let cookie = joined_cookie_header(&req);
    let mine = cookie.as_deref().and_then(|h| single_cookie(h, COOKIE));
    let state = get("state");
    let flow = (mine == Some(state) && !state.is_empty())
        .then(|| app.demo_flows.lock().remove(state))
        .flatten()
        .filter(|(_, at)| at.elapsed() < TTL);
    let Some((verifier, _)) = flow else {
        let msg = "This callback does not match a flow this browser started (or it is over ten minutes old).";
        return app.account.error(400, "Unknown demo flow", msg, s.as_ref());
    };
    let mut body = String::new();
    if !get("error").is_empty() {
        body.push_str(&format!(
            "<p class=\"note warn\">The server answered <code>error={}</code>: {}</p>",
            escape(get("error")),
            escape(get("error_description"))
        ));
    } else {
        body.push_str(&exchange(&app, get("code"), &verifier).await);
    }
    body.push_str(
        "<p><a href=\"/demo\">Start again</a> · <a href=\"/account/apps\">Connected apps</a></p>",
    );
    let nav = s.as_ref().and_then(|s| app.account.nav(s));
    let mut r = page(app.ui(), 200, "Demo client: result", nav.as_ref(), &body);
    r.headers.push((
        "Set-Cookie".into(),
        format!("{COOKIE}=; Path=/demo; Max-Age=0; HttpOnly; SameSite=Lax"),
    ));
    r
}

/// The token request a client sends, through the engine's token endpoint;
/// then the demo API with the access token. Returns the HTML to show.
async fn exchange(app: &App, code: &str, verifier: &str) -> String {
    let callback = callback_url(app);
    let form = encode_form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &callback),
        ("client_id", DEMO_APP_ID),
        ("code_verifier", verifier),
    ]);
    let req = HttpRequest {
        method: "POST".into(),
        query: String::new(),
        path: String::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.into_bytes(),
        peer: None,
    };
    let r = app.engine.token(&req).await;
    let json = r.json_body();
    let text = |k: &str| json[k].as_str().unwrap_or("").to_owned();
    if r.status != 200 {
        return format!(
            "<p class=\"note error\" role=\"alert\">The token endpoint answered {}: <code>{}</code> {}</p>",
            r.status,
            escape(&text("error")),
            escape(&text("error_description"))
        );
    }
    let access = text("access_token");
    let refresh = match json["refresh_token"].as_str() {
        Some(t) => format!("<code class=\"token\">{}</code>", escape(&mask(t))),
        None => "none (<code>offline_access</code> was not granted)".into(),
    };
    let scopes: String = text("scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| format!("<code>{}</code> ", escape(s)))
        .collect();
    let guard = BearerGuard::new(&app.engine, &app.resource, &[ME_SCOPE]);
    let api_req = HttpRequest {
        method: "GET".into(),
        query: String::new(),
        path: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {access}"))],
        body: Vec::new(),
        peer: None,
    };
    let api = match guard.check(&api_req).await {
        Ok(info) => format!(
            "200: you are <b>{}</b>, through <code>{}</code>",
            escape(&info.sub),
            escape(&info.client_id)
        ),
        Err(r) => format!(
            "{}: {}",
            r.status,
            escape(r.header("www-authenticate").unwrap_or(""))
        ),
    };
    format!(
        "<p class=\"note ok\" role=\"status\">The code was exchanged for tokens.</p>\
         <table class=\"tokens\"><tr><th scope=\"row\">Access token</th><td><code class=\"token\">{access}</code></td></tr>\
         <tr><th scope=\"row\">Expires in</th><td>{expires} seconds</td></tr>\
         <tr><th scope=\"row\">Refresh token</th><td>{refresh}</td></tr>\
         <tr><th scope=\"row\">Scopes granted</th><td class=\"granted\">{scopes}</td></tr>\
         <tr><th scope=\"row\"><code>GET /api/me</code></th><td class=\"api\">{api}</td></tr></table>\
         <p class=\"small\">Tokens are masked: only their first characters are shown.</p>",
        access = escape(&mask(&access)),
        expires = json["expires_in"].as_u64().unwrap_or(0),
    )
}
