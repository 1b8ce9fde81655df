//! The device verification pages (RFC 8628 §3.3): code entry and "return
//! to your device". English only for now: a host that needs another
//! language implements [`crate::web::flow::Pages::device_entry`] itself.

use askama::Template;

use super::{Nav, Strings, Theme, Ui};
use crate::http::HttpResponse;
use crate::web::flow::DeviceEntryPage;

#[derive(Template)]
#[template(path = "latchkey/device.html")]
struct DeviceTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    title: &'a str,
    lead: &'a str,
    /// `Some(app name)` once the user has decided.
    decided: Option<&'a str>,
    label: &'a str,
    hint: &'a str,
    submit: &'a str,
    action: &'a str,
    csrf: &'a str,
    user_code: &'a str,
    problem: Option<&'a str>,
}

impl Ui {
    fn device_template<'a>(&'a self, title: &'a str, lead: &'a str) -> DeviceTemplate<'a> {
        DeviceTemplate {
            s: &self.strings,
            theme: &self.theme,
            css: &self.css,
            nav: None,
            title,
            lead,
            decided: None,
            label: "Code",
            hint: "Letters only, as shown on your device. Dashes and case do not matter.",
            submit: "Continue",
            action: "",
            csrf: "",
            user_code: "",
            problem: None,
        }
    }

    /// The code-entry page: a labelled field (no autocomplete, capitals,
    /// the hint and any error announced with it) posting `user_code` and
    /// `csrf` to `page.action`.
    #[must_use]
    pub fn device_entry(&self, page: &DeviceEntryPage<'_>) -> HttpResponse {
        let t = DeviceTemplate {
            action: page.action,
            csrf: page.csrf,
            user_code: page.user_code,
            problem: page.problem.map(|p| p.message()),
            ..self.device_template("Connect a device", "Enter the code shown on your device.")
        };
        self.respond(page.problem.map_or(200, |p| p.status()), &t)
    }

    /// After the user decided on a device request.
    #[must_use]
    pub fn device_decided(&self, approved: bool, client_name: &str) -> HttpResponse {
        let (title, lead) = if approved {
            (
                "Device connected",
                "can now use your account. Return to your device.",
            )
        } else {
            (
                "Request denied",
                "was not given access. You can close this page.",
            )
        };
        let t = DeviceTemplate {
            decided: Some(client_name),
            ..self.device_template(title, lead)
        };
        self.respond(200, &t)
    }
}
