//! The ready account pages, with their handlers: sign-in, sign-out, and
//! connected apps with a confirmed revoke. Framework-free: mount
//! [`AccountPages::routes`] with the OAuth routes (`OAuthRouter::routes`,
//! `OAuthService::routes`) and every framework serves the same pages.

use std::sync::Arc;

use askama::Template;

use super::apps::AppRow;
use super::{ConnectedAppsPage, ErrorPage, Nav, NavLink, SignInPage, Strings, Theme, Ui};
use crate::authorize::Principal;
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::http::{encode_component, HttpRequest, HttpResponse, Params};
use crate::limits::{key as limit_key, MemoryRateLimiter, RateLimiter, Rule, Verdict};
use crate::manage_error::ManageError;
use crate::storage::Storage;
use crate::web::page::{redirect, with_cookie};
use crate::web::routes::Route;
use crate::web::{after_sign_in, Credentials, Session, Sessions, SignIn};

/// Where the account pages live. The sign-in path must be where the
/// [`SignIn`] hook sends browsers (its default is `/login`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPaths {
    /// The sign-in form (`GET`) and check (`POST`).
    pub sign_in: String,
    /// Sign-out (`POST`).
    pub sign_out: String,
    /// The connected-apps page.
    pub apps: String,
    /// Revoke (`POST`): first a confirmation page, then the revoke.
    pub revoke: String,
    /// Where sign-in goes when no `next` was given.
    pub home: String,
}

impl Default for AccountPaths {
    fn default() -> Self {
        AccountPaths {
            sign_in: "/login".into(),
            sign_out: "/logout".into(),
            apps: "/account/apps".into(),
            revoke: "/account/apps/revoke".into(),
            home: "/account/apps".into(),
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC`, the default date format of the pages (no time
/// zone database needed).
#[must_use]
pub fn format_utc(t: Timestamp) -> String {
    let secs = t.0;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The account pages of one engine: the host supplies its users (who is
/// signed in, [`SignIn`]; whose password is right, [`Credentials`]), the
/// library does sessions, CSRF, the open-redirect guard on `next`, the
/// post/redirect/get after every form, and the confirmation before revoke.
///
/// A host's own pages reuse [`AccountPages::signed_in`],
/// [`AccountPages::nav`] and [`AccountPages::error`] to behave the same.
pub struct AccountPages<S: ?Sized, U> {
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    users: Arc<U>,
    ui: Ui,
    paths: AccountPaths,
    links: Vec<NavLink>,
    date: fn(Timestamp) -> String,
    throttle: SignInThrottle,
}

/// How failed sign-ins are throttled: per username (whether or not such a
/// user exists, so a refusal tells nothing) and per source address. Once
/// over either, every attempt is refused until the window ends, right
/// password or not, with one message and status whatever tripped it.
///
/// The owner is never locked out by a stranger: a browser that signed in
/// as a user gets a *known-browser* cookie (signed with the server keys,
/// naming the user, [`SignInThrottle::known_browser_lifetime`]), the
/// device cookies of the OWASP authentication cheat sheet. A sign-in for
/// that user from that browser skips the username and address locks and
/// counts its failures against that cookie alone
/// ([`SignInThrottle::per_known_browser`]): a stranger's guesses lock the
/// username for browsers that never signed in to it, never for the
/// owner's own. A stolen cookie buys a guesser only that slower budget.
#[derive(Clone)]
pub struct SignInThrottle {
    /// Where the counts live (shared between instances with
    /// `latchkey::limits::RedisRateLimiter`).
    pub limiter: Arc<dyn RateLimiter>,
    /// Failed attempts per username: 10 in 15 minutes by default.
    pub per_username: Rule,
    /// Failed attempts per source address: 50 in 15 minutes by default.
    pub per_address: Rule,
    /// Failed attempts per known-browser cookie: 5 in 15 minutes.
    pub per_known_browser: Rule,
    /// How long a known-browser cookie lasts: 90 days.
    pub known_browser_lifetime: u64,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle {
            limiter: Arc::new(MemoryRateLimiter::default()),
            per_username: Rule::per(10, 900),
            per_address: Rule::per(50, 900),
            per_known_browser: Rule::per(5, 900),
            known_browser_lifetime: 90 * 86_400,
        }
    }
}

/// Name of the known-browser cookie (with `__Host-` under https).
pub const KNOWN_BROWSER_COOKIE: &str = "latchkey_known";

impl std::fmt::Debug for SignInThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInThrottle")
            .field("per_username", &self.per_username)
            .field("per_address", &self.per_address)
            .finish_non_exhaustive()
    }
}

impl SignInThrottle {
    fn keys(req: &HttpRequest, username: &str) -> [([u8; 16], bool); 2] {
        let addr = crate::limits::source(req);
        // Usernames compare as people type them.
        let user = username.trim().to_lowercase();
        [
            (limit_key(&["sign-in", "user", &user]), true),
            (limit_key(&["sign-in", "addr", &addr]), false),
        ]
    }

    fn rule(&self, per_user: bool) -> Rule {
        if per_user {
            self.per_username
        } else {
            self.per_address
        }
    }

    /// Seconds to wait when `req` may not try `username` now. A limiter
    /// that fails lets the attempt through.
    async fn refused(
        &self,
        req: &HttpRequest,
        username: &str,
        known: Option<&str>,
        now: Timestamp,
    ) -> Option<u64> {
        if let Some(k) = known {
            let key = limit_key(&["sign-in", "known", k]);
            return match self.limiter.check(&key, self.per_known_browser, now).await {
                Ok(Verdict::Deny { retry_after }) => Some(retry_after),
                _ => None,
            };
        }
        for (k, per_user) in Self::keys(req, username) {
            if let Ok(Verdict::Deny { retry_after }) =
                self.limiter.check(&k, self.rule(per_user), now).await
            {
                return Some(retry_after);
            }
        }
        None
    }

    async fn failed(&self, req: &HttpRequest, username: &str, known: Option<&str>, now: Timestamp) {
        if let Some(k) = known {
            let key = limit_key(&["sign-in", "known", k]);
            let _ = self.limiter.hit(&key, self.per_known_browser, now).await;
            return;
        }
        for (k, per_user) in Self::keys(req, username) {
            let _ = self.limiter.hit(&k, self.rule(per_user), now).await;
        }
    }
}

impl<S: ?Sized, U> std::fmt::Debug for AccountPages<S, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPages")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

#[derive(Template)]
#[template(path = "latchkey/revoke.html")]
struct RevokeTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    app: &'a AppRow,
    csrf: &'a str,
    action: &'a str,
    cancel: &'a str,
}

impl<S, U> AccountPages<S, U>
where
    S: Storage + ?Sized + 'static,
    U: SignIn + Credentials,
{
    /// The pages for `engine`'s users, in `ui`'s look, at the default
    /// [`AccountPaths`], with a "Connected apps" link in the navigation.
    #[must_use]
    pub fn new(engine: Engine<S>, sessions: Arc<Sessions>, users: Arc<U>, ui: Ui) -> Self {
        let paths = AccountPaths::default();
        AccountPages {
            links: vec![NavLink {
                href: paths.apps.clone(),
                label: ui.strings().connected_apps.to_string(),
            }],
            engine,
            sessions,
            users,
            ui,
            paths,
            date: format_utc,
            throttle: SignInThrottle::default(),
        }
    }

    /// Throttles failed sign-ins with `throttle` instead of the default
    /// (in memory, 10 per username and 50 per address in 15 minutes).
    #[must_use]
    pub fn sign_in_throttle(mut self, throttle: SignInThrottle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Serves the pages at `paths` (the nav's first link follows).
    #[must_use]
    pub fn paths(mut self, paths: AccountPaths) -> Self {
        if let Some(l) = self.links.first_mut() {
            l.href.clone_from(&paths.apps);
        }
        self.paths = paths;
        self
    }

    /// Adds links to the signed-in navigation (the host's own pages).
    #[must_use]
    pub fn nav_links(mut self, links: impl IntoIterator<Item = NavLink>) -> Self {
        self.links.extend(links);
        self
    }

    /// Formats dates with `date` instead of [`format_utc`].
    #[must_use]
    pub fn date_format(mut self, date: fn(Timestamp) -> String) -> Self {
        self.date = date;
        self
    }

    /// The renderer.
    #[must_use]
    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    /// The paths.
    #[must_use]
    pub fn account_paths(&self) -> &AccountPaths {
        &self.paths
    }

    /// The four routes, to mount with the OAuth routes.
    #[must_use]
    pub fn routes(self: &Arc<Self>) -> Vec<Route> {
        let at = |path: &str, f: fn(Arc<Self>, HttpRequest) -> Pending| {
            let me = self.clone();
            Route::page(path, move |req| f(me.clone(), req))
        };
        vec![
            at(&self.paths.sign_in, |me, req| {
                Box::pin(async move { me.sign_in(&req).await })
            }),
            at(&self.paths.sign_out, |me, req| {
                Box::pin(async move { me.sign_out(&req).await })
            }),
            at(&self.paths.apps, |me, req| {
                Box::pin(async move { me.connected_apps(&req).await })
            }),
            at(&self.paths.revoke, |me, req| {
                Box::pin(async move { me.revoke(&req).await })
            }),
        ]
    }

    /// The signed-in navigation for `s` (`None` while anonymous).
    #[must_use]
    pub fn nav(&self, s: &Session) -> Option<Nav> {
        Some(Nav {
            user: s.user.clone()?,
            csrf: s.csrf.expose().into(),
            sign_out_action: self.paths.sign_out.clone(),
            links: self.links.clone(),
        })
    }

    /// An error page for a person; with `session`, the navigation stays,
    /// so a user in the wrong account can get out.
    #[must_use]
    pub fn error(
        &self,
        status: u16,
        title: &str,
        message: &str,
        session: Option<&Session>,
    ) -> HttpResponse {
        let nav = session.and_then(|s| self.nav(s));
        self.ui.error(&ErrorPage {
            status,
            title,
            message,
            next_step: "Go back and try again, or start from the home page.",
            nav: nav.as_ref(),
            ..ErrorPage::default()
        })
    }

    fn broken(&self, e: impl std::fmt::Display, s: Option<&Session>) -> HttpResponse {
        self.error(500, "Something went wrong", &e.to_string(), s)
    }

    /// The signed-in session and user of `req`, or a redirect to sign in
    /// that comes back to `here`. For a `POST`, also its form, after the
    /// CSRF check (a mismatch is a 403 page).
    ///
    /// # Errors
    /// The response to send instead.
    pub async fn signed_in(
        &self,
        req: &HttpRequest,
        here: &str,
    ) -> Result<(Session, Principal, Params), HttpResponse> {
        let session = self
            .sessions
            .load(req)
            .await
            .map_err(|e| self.broken(e, None))?;
        let signed_in = match session {
            Some(s) if s.user.is_some() => self.users.principal(&s).await.map(|p| (s, p)),
            _ => None,
        };
        let Some((s, p)) = signed_in else {
            let to = format!("{}?next={}", self.paths.sign_in, encode_component(here));
            return Err(redirect(&to));
        };
        if req.method != "POST" {
            return Ok((s, p, Params::default()));
        }
        let form = req
            .form_body()
            .map_err(|e| self.error(e.status(), "Bad request", &e.description(), Some(&s)))?;
        if !s.posted_here(req, &form, &self.engine.config().issuer) {
            let msg = "The form was not sent from this site's current page. \
                       Go back, reload and try again.";
            return Err(self.error(403, "Form expired", msg, Some(&s)));
        }
        Ok((s, p, form))
    }

    /// `GET`: the sign-in form (straight on to `next` when already signed
    /// in); `POST`: checks the credentials, rotates the session and goes to
    /// `next` (a same-origin path) or the home path.
    pub async fn sign_in(&self, req: &HttpRequest) -> HttpResponse {
        let post = match req.method.as_str() {
            "GET" | "HEAD" => false,
            "POST" => true,
            _ => return method_not_allowed("GET, HEAD, POST"),
        };
        let (session, cookie) = match self.sessions.load_or_create(req).await {
            Ok(x) => x,
            Err(e) => return self.broken(e, None),
        };
        let form = if post {
            req.form_body()
        } else {
            Params::parse(&req.query)
        };
        let form = form.unwrap_or_default();
        let field = |n| form.single(n).ok().flatten().unwrap_or("");
        let next = form
            .single("next")
            .ok()
            .flatten()
            .filter(|n| crate::web::safe_next(n).is_some());
        let username = field("username");
        let known = self.known_browser(req, username);
        let (error, status) = if !post {
            if session.user.is_some() {
                return redirect(after_sign_in(next, &self.paths.home));
            }
            (None, 200)
        } else if !session.posted_here(req, &form, &self.engine.config().issuer) {
            (Some("Your sign-in form expired. Please try again."), 403)
        } else if let Some(wait) = self
            .throttle
            .refused(req, username, known.as_deref(), self.engine.now())
            .await
        {
            let page = self.sign_in_page(&session, next, username, TOO_MANY, 429);
            return with_cookie(page.retry_after(wait), cookie);
        } else if let Some(user) = self.users.check(username, field("password")).await {
            let done = self
                .sessions
                .complete_sign_in(&session, &user, next, &self.paths.home)
                .await;
            return match done {
                Ok(r) => with_cookie(r, self.known_browser_cookie(username)),
                Err(e) => self.broken(e, None),
            };
        } else {
            let now = self.engine.now();
            self.throttle
                .failed(req, username, known.as_deref(), now)
                .await;
            (Some(INVALID), 401)
        };
        let page = self.sign_in_page(&session, next, username, error.unwrap_or_default(), status);
        with_cookie(page, cookie)
    }

    /// The known-browser cookie's value for `username` issued now.
    fn known_browser_value(&self, username: &str, issued: u64) -> String {
        let user = username.trim().to_lowercase();
        let mac = self
            .engine
            .keyring()
            .digest(&format!("latchkey known browser v1\0{user}\0{issued}"));
        format!("k1.{issued}.{}", mac.to_hex())
    }

    fn known_browser_name(&self) -> String {
        if self.sessions.config().secure {
            format!("__Host-{KNOWN_BROWSER_COOKIE}")
        } else {
            KNOWN_BROWSER_COOKIE.to_owned()
        }
    }

    /// The `Set-Cookie` that marks this browser as one `username` signed
    /// in from.
    fn known_browser_cookie(&self, username: &str) -> Option<String> {
        let value = self.known_browser_value(username, self.engine.now().0);
        Some(crate::web::persistent_cookie(
            &self.known_browser_name(),
            &value,
            self.throttle.known_browser_lifetime,
            self.sessions.config().secure,
        ))
    }

    /// The signature of `req`'s known-browser cookie, when it is one
    /// `username` signed in from within the cookie's lifetime.
    fn known_browser(&self, req: &HttpRequest, username: &str) -> Option<String> {
        let header = crate::web::joined_cookie_header(req)?;
        let value = crate::web::single_cookie(&header, &self.known_browser_name())?;
        let (issued, _) = value.strip_prefix("k1.")?.split_once('.')?;
        let issued: u64 = issued.parse().ok()?;
        if issued.saturating_add(self.throttle.known_browser_lifetime) < self.engine.now().0 {
            return None;
        }
        let expected = self.known_browser_value(username, issued);
        crate::web::ct_eq(expected.as_bytes(), value.as_bytes()).then(|| value.to_owned())
    }

    fn sign_in_page(
        &self,
        session: &Session,
        next: Option<&str>,
        username: &str,
        error: &str,
        status: u16,
    ) -> HttpResponse {
        let page = SignInPage {
            csrf: session.csrf.expose(),
            action: &self.paths.sign_in,
            next,
            app_name: None,
            username,
            error: (!error.is_empty()).then_some(error),
        };
        self.ui.sign_in(status, &page)
    }

    /// `POST`: ends the session, then the sign-in page.
    pub async fn sign_out(&self, req: &HttpRequest) -> HttpResponse {
        if req.method != "POST" {
            return method_not_allowed("POST");
        }
        let (s, _, _) = match self.signed_in(req, &self.paths.home).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        match self.sessions.sign_out(&s).await {
            Ok(cookie) => with_cookie(redirect(&self.paths.sign_in), Some(cookie)),
            Err(e) => self.broken(e, Some(&s)),
        }
    }

    /// `GET`: every app the user authorized, with a revoke button each.
    pub async fn connected_apps(&self, req: &HttpRequest) -> HttpResponse {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return method_not_allowed("GET, HEAD");
        }
        let (s, p, _) = match self.signed_in(req, &self.paths.apps).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let rows = match self.rows(&p).await {
            Ok(rows) => rows,
            Err(e) => return self.manage_error(&e, &s),
        };
        let notice = self.sessions.take_flash(&s).await.ok().flatten();
        let nav = self.nav(&s);
        self.ui.connected_apps(&ConnectedAppsPage {
            apps: &rows,
            csrf: s.csrf.expose(),
            revoke_action: &self.paths.revoke,
            notice: notice.as_deref(),
            nav: nav.as_ref(),
        })
    }

    async fn rows(&self, p: &Principal) -> Result<Vec<AppRow>, ManageError> {
        let apps = self.engine.connected_apps(&p.subject).await?;
        Ok(apps.iter().map(|a| AppRow::new(a, self.date)).collect())
    }

    /// `POST grant_id`: a page that asks to confirm; `POST grant_id
    /// confirm=yes`: every token of the grant stops working, then back to
    /// the list (post/redirect/get) with a notice. Only the user's own
    /// grants: another's is "not found".
    pub async fn revoke(&self, req: &HttpRequest) -> HttpResponse {
        if req.method != "POST" {
            return method_not_allowed("POST");
        }
        let (s, p, form) = match self.signed_in(req, &self.paths.apps).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let grant = form.single("grant_id").ok().flatten().unwrap_or("");
        if form.single("confirm").ok().flatten() != Some("yes") {
            return self.confirm_revoke(&s, &p, grant).await;
        }
        let by = crate::audit::Audit::user(&p.subject, crate::audit::Source::of(req));
        match self.engine.revoke_grant(&by, &p.subject, grant).await {
            Ok(()) => {
                let notice = &self.ui.strings().access_revoked;
                // The revoke happened; a lost notice only loses the words.
                let _ = self.sessions.set_flash(&s, notice.to_string()).await;
                redirect(&self.paths.apps)
            }
            Err(e) => self.manage_error(&e, &s),
        }
    }

    async fn confirm_revoke(&self, s: &Session, p: &Principal, grant: &str) -> HttpResponse {
        let rows = match self.rows(p).await {
            Ok(rows) => rows,
            Err(e) => return self.manage_error(&e, s),
        };
        let Some(app) = rows.iter().find(|r| r.grant_id == grant) else {
            let e = ManageError::NotFound("no such app is connected to your account".into());
            return self.manage_error(&e, s);
        };
        let nav = self.nav(s);
        self.ui.respond(
            200,
            &RevokeTemplate {
                s: &self.ui.strings,
                theme: &self.ui.theme,
                css: &self.ui.css,
                nav: nav.as_ref(),
                app,
                csrf: s.csrf.expose(),
                action: &self.paths.revoke,
                cancel: &self.paths.apps,
            },
        )
    }

    /// A management error as a page.
    #[must_use]
    pub fn manage_error(&self, e: &ManageError, s: &Session) -> HttpResponse {
        let (status, msg) = e.user_facing();
        self.error(status, "That did not work", &msg, Some(s))
    }
}

/// What a throttled sign-in says: the same whether or not the user exists
/// and whichever limit (username or address) was reached.
const TOO_MANY: &str = "Too many failed sign-in attempts. Wait a few minutes, then try again.";

/// What a failed sign-in says: the same for an unknown user and a wrong
/// password.
const INVALID: &str = "Invalid username or password.";

type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = HttpResponse> + Send>>;

fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::error(&crate::error::Error::MethodNotAllowed(allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_utc(Timestamp(0)), "1970-01-01 00:00 UTC");
        assert_eq!(
            format_utc(Timestamp(951_782_400 + 3_723)),
            "2000-02-29 01:02 UTC"
        );
        assert_eq!(format_utc(Timestamp(1_767_225_599)), "2025-12-31 23:59 UTC");
    }
}
