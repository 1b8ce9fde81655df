//! The device verification page (RFC 8628 §3.3): `GET` shows the code
//! form (filled in from `?user_code=`, the `verification_uri_complete`
//! link), `POST` looks the code up and hands over to the consent page that
//! every grant shares, through sign-in when needed.
//!
//! Guessing is throttled (RFC 8628 §5.1): wrong codes are counted per
//! browser session and for the whole flow in a fixed window, and either
//! limit locks code entry until the window ends. The counts live in this
//! process: behind a load balancer each instance has its own budget, so
//! the effective global limit is the per-instance one times the number of
//! instances.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Params};
use crate::storage::Storage;
use crate::web::page::{csrf_field, error_page, escape, html_page, redirect, with_cookie};
use crate::web::{SessionKey, SignIn};

use super::BrowserFlow;

/// How many wrong user codes are tolerated before code entry locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessLimits {
    /// Wrong codes one browser session may enter per window.
    pub per_session: u32,
    /// Wrong codes all sessions together may enter per window; beyond it
    /// nobody can enter a code until the window ends (an attacker with
    /// many sessions can then lock the page, but cannot keep guessing).
    pub global: u32,
    /// The window, in seconds.
    pub window: u64,
}

impl Default for GuessLimits {
    /// 5 per session and 200 overall per 15 minutes: with 20^8 codes and
    /// at most a few hundred live ones, a guess hits with odds below one
    /// in 10^6 per window.
    fn default() -> Self {
        GuessLimits {
            per_session: 5,
            global: 200,
            window: 900,
        }
    }
}

/// Why the code form is shown again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryProblem {
    /// The code is unknown, expired or already used.
    NotValid,
    /// Too many wrong codes: entry is locked for a while.
    TooManyAttempts,
}

impl EntryProblem {
    /// The HTTP status of the page.
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            EntryProblem::NotValid => 400,
            EntryProblem::TooManyAttempts => 429,
        }
    }

    /// A plain English message.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            EntryProblem::NotValid => {
                "That code is not valid. Check the code on your device and try again."
            }
            EntryProblem::TooManyAttempts => {
                "Too many wrong codes. Wait a few minutes, then try again."
            }
        }
    }
}

/// What the code-entry page shows. `Debug` redacts the code.
pub struct DeviceEntryPage<'a> {
    /// Where the form posts (field `user_code`).
    pub action: &'a str,
    /// The session's CSRF token (field `csrf`).
    pub csrf: &'a str,
    /// The code to fill in (from `verification_uri_complete`), or empty.
    pub user_code: &'a str,
    /// Why the form is shown again, if it is.
    pub problem: Option<EntryProblem>,
}

impl std::fmt::Debug for DeviceEntryPage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEntryPage")
            .field("action", &self.action)
            .field("problem", &self.problem)
            .finish_non_exhaustive()
    }
}

/// The built-in code-entry page.
pub(super) fn plain_entry(page: &DeviceEntryPage<'_>) -> HttpResponse {
    let problem = page.problem.map_or(String::new(), |p| {
        format!("<p role=\"alert\">{}</p>", escape(p.message()))
    });
    let body = format!(
        "<p>Enter the code shown on your device.</p>{problem}\
         <form method=\"post\" action=\"{action}\">{csrf}\
         <label for=\"user_code\">Code</label> \
         <input id=\"user_code\" name=\"user_code\" value=\"{code}\" required \
         autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" \
         placeholder=\"XXXX-XXXX\"> \
         <button type=\"submit\">Continue</button></form>",
        action = escape(page.action),
        csrf = csrf_field(page.csrf),
        code = escape(page.user_code),
    );
    html_page(
        page.problem.map_or(200, EntryProblem::status),
        "Connect a device",
        &body,
    )
}

/// The built-in page after a decision.
pub(super) fn plain_decided(approved: bool, client_name: &str) -> HttpResponse {
    let client_name = crate::display::isolate(client_name);
    let (title, text) = if approved {
        (
            "Device connected",
            format!("{client_name} can now use your account. Return to your device."),
        )
    } else {
        (
            "Request denied",
            format!("{client_name} was not given access. You can close this page."),
        )
    };
    error_page(200, title, &text)
}

struct Window {
    started: Timestamp,
    total: u32,
    by_session: HashMap<SessionKey, u32>,
}

impl Window {
    fn starting(started: Timestamp) -> Self {
        Window {
            started,
            total: 0,
            by_session: HashMap::new(),
        }
    }
}

/// The verification page's state: its path and the guess counts.
pub(super) struct DeviceEntry {
    path: String,
    limits: GuessLimits,
    window: Mutex<Window>,
}

impl DeviceEntry {
    pub(super) fn new<S: ?Sized>(engine: &Engine<S>) -> Self {
        let url = &engine.config.endpoints.device_verification;
        let (_, path) = crate::metadata::split_origin(url);
        DeviceEntry {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            limits: GuessLimits::default(),
            window: Mutex::new(Window::starting(Timestamp(0))),
        }
    }

    /// The current window at `now` (a new one once the old has run out).
    fn current(&self, now: Timestamp) -> std::sync::MutexGuard<'_, Window> {
        let mut w = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now >= w.started.plus(self.limits.window) {
            *w = Window::starting(now);
        }
        w
    }

    fn locked(&self, key: &SessionKey, now: Timestamp) -> bool {
        let w = self.current(now);
        w.total >= self.limits.global
            || w.by_session.get(key).copied().unwrap_or(0) >= self.limits.per_session
    }

    fn count_failure(&self, key: &SessionKey, now: Timestamp) {
        let mut w = self.current(now);
        // The map only grows with counted failures, so `global` bounds it.
        if w.total < self.limits.global {
            w.total += 1;
            *w.by_session.entry(key.clone()).or_insert(0) += 1;
        }
    }
}

impl<S: Storage + ?Sized + 'static, H: SignIn> BrowserFlow<S, H> {
    /// Replaces the guessing limits of the verification page.
    #[must_use]
    pub fn with_device_guess_limits(mut self, limits: GuessLimits) -> Self {
        self.device.limits = limits;
        self
    }

    /// Where the device verification page is served (the path of
    /// [`crate::config::Endpoints::device_verification`]).
    #[must_use]
    pub fn device_path(&self) -> &str {
        &self.device.path
    }

    /// The device verification page (RFC 8628 §3.3): `GET` shows the
    /// form, `POST` (CSRF-checked, throttled) looks the code up and
    /// continues at the consent page.
    pub async fn device(&self, req: &HttpRequest) -> HttpResponse {
        match req.method.as_str() {
            "GET" => self.device_form(req).await,
            "POST" => self.device_submit(req).await,
            _ => HttpResponse::error(&Error::MethodNotAllowed("GET, POST")),
        }
    }

    async fn device_form(&self, req: &HttpRequest) -> HttpResponse {
        let params = match Params::parse(&req.query) {
            Ok(p) => p,
            Err(e) => return self.show_error(&e),
        };
        // Only something shaped like a user code is filled in.
        let typed = params.single("user_code").ok().flatten().unwrap_or("");
        let code = crate::device::normalize_user_code(typed)
            .map(|c| format!("{}-{}", &c[..4], &c[4..]))
            .unwrap_or_default();
        let (session, set_cookie) = match self.sessions.load_or_create(req).await {
            Ok(x) => x,
            Err(e) => return self.show_error(&e.into()),
        };
        let page = DeviceEntryPage {
            action: &self.device.path,
            csrf: session.csrf.expose(),
            user_code: &code,
            problem: None,
        };
        with_cookie(self.pages.device_entry(&page), set_cookie)
    }

    async fn device_submit(&self, req: &HttpRequest) -> HttpResponse {
        let form = match req.form_body() {
            Ok(f) => f,
            Err(e) => return self.show_error(&e),
        };
        let session = match self.sessions.load(req).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return error_page(
                    401,
                    "Session expired",
                    "Your session ended. Open the page again and re-enter the code.",
                )
            }
            Err(e) => return self.show_error(&e.into()),
        };
        // First, before the code is looked at (CSRF).
        if !session.posted_here(req, &form, &self.engine.config().issuer) {
            return error_page(
                403,
                "Form expired",
                "The form was not sent from this site's current page. Go back, reload and try again.",
            );
        }
        let again = |problem| {
            self.pages.device_entry(&DeviceEntryPage {
                action: &self.device.path,
                csrf: session.csrf.expose(),
                user_code: "",
                problem: Some(problem),
            })
        };
        let now = self.engine.now();
        if self.device.locked(session.key(), now) {
            return again(EntryProblem::TooManyAttempts);
        }
        let typed = form.single("user_code").ok().flatten().unwrap_or("");
        match self.engine.enter_user_code(typed, &session.binding).await {
            Ok(Some(challenge)) => redirect(&self.consent_url(challenge.expose())),
            Ok(None) => {
                self.device.count_failure(session.key(), now);
                again(EntryProblem::NotValid)
            }
            Err(e) => self.show_error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(limits: GuessLimits) -> DeviceEntry {
        DeviceEntry {
            path: "/device".into(),
            limits,
            window: Mutex::new(Window::starting(Timestamp(0))),
        }
    }

    #[test]
    fn sessions_and_the_whole_flow_lock_until_the_window_ends() {
        let e = entry(GuessLimits {
            per_session: 2,
            global: 3,
            window: 60,
        });
        let (a, b, c) = (
            SessionKey([1; 32]),
            SessionKey([2; 32]),
            SessionKey([3; 32]),
        );
        let t = Timestamp(1000);
        e.count_failure(&a, t);
        assert!(!e.locked(&a, t));
        e.count_failure(&a, t);
        assert!(e.locked(&a, t), "per session");
        assert!(!e.locked(&b, t));
        e.count_failure(&b, t);
        assert!(e.locked(&c, t), "global");
        assert!(!e.locked(&a, t.plus(60)), "a new window");
    }
}
