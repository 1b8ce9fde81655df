//! Every word the ready pages show, so a host can translate them.

use std::borrow::Cow;
use std::collections::BTreeMap;

type Text = Cow<'static, str>;

/// The pages' text. [`Strings::english`] is the default; a host translates
/// by starting from it and replacing fields (every field is plain text and
/// is escaped when rendered, so a translation cannot inject markup).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is named for the text it holds.
pub struct Strings {
    /// The `lang` attribute of every page (BCP 47).
    pub lang: Text,
    pub account_menu: Text,
    pub signed_in_as: Text,
    pub sign_out: Text,
    /// The consent title is `consent_heading_before` + app name +
    /// `consent_heading_after`, so word order can follow the language.
    pub consent_heading_before: Text,
    pub consent_heading_after: Text,
    pub consent_account_lead: Text,
    pub switch_account: Text,
    pub own_account_app: Text,
    pub verified_domain: Text,
    pub unverified_app: Text,
    pub unverified_short: Text,
    /// Around the domains whose proof of ownership lapsed.
    pub lapsed_domain_before: Text,
    pub lapsed_domain_after: Text,
    /// Before the host that publishes an app's own metadata document.
    pub described_on: Text,
    pub it_will_be_able_to: Text,
    pub can_change: Text,
    pub offline_access: Text,
    pub online_only: Text,
    pub sent_to_web: Text,
    pub sent_to_loopback: Text,
    /// "an app on your device that handles" + `scheme:` + after.
    pub sent_to_app_before: Text,
    pub sent_to_app_after: Text,
    pub remember: Text,
    pub allow: Text,
    pub deny: Text,
    pub details: Text,
    pub details_for_developers: Text,
    pub client_id: Text,
    pub redirect_to: Text,
    pub api_address: Text,
    pub scope: Text,
    pub revoke_any_time: Text,
    pub connected_apps: Text,
    pub connected_apps_lead: Text,
    pub no_connected_apps: Text,
    pub granted_on: Text,
    pub last_used: Text,
    pub revoke_access: Text,
    /// The confirmation title is `revoke_heading_before` + app name +
    /// `revoke_heading_after`.
    pub revoke_heading_before: Text,
    pub revoke_heading_after: Text,
    pub revoke_lead: Text,
    pub access_revoked: Text,
    pub cancel: Text,
    pub sign_in: Text,
    pub sign_in_to_continue_to: Text,
    pub username: Text,
    pub password: Text,
    pub error_with_app: Text,
    /// Title of the group of scopes without a `group:` prefix.
    pub other_group: Text,
    /// Titles of scope groups by prefix (`dns` for `dns:read`); a prefix
    /// without an entry is shown capitalised.
    pub group_titles: BTreeMap<String, String>,
}

impl Strings {
    /// English.
    #[must_use]
    pub fn english() -> Self {
        Strings {
            lang: "en".into(),
            account_menu: "Account".into(),
            signed_in_as: "Signed in as".into(),
            sign_out: "Sign out".into(),
            consent_heading_before: "Allow ".into(),
            consent_heading_after: " to use your account?".into(),
            consent_account_lead: "You are signed in as".into(),
            switch_account: "Not you? Switch account".into(),
            own_account_app: "This app belongs to your organisation's account.".into(),
            verified_domain: "Published by the owner of".into(),
            unverified_app: "Nobody has verified who publishes this app. Allow it only if you \
                             started this yourself and trust the app."
                .into(),
            unverified_short: "Publisher not verified".into(),
            lapsed_domain_before: "This app's publisher once proved it owns".into(),
            lapsed_domain_after: "but that proof is no longer published, so nobody vouches for \
                                  who publishes it now. Allow it only if you trust the app."
                .into(),
            described_on: "The app describes itself on".into(),
            it_will_be_able_to: "It will be able to:".into(),
            can_change: "can change or delete".into(),
            offline_access: "It will keep this access while you are away, until you revoke it."
                .into(),
            online_only: "Its access expires soon after you stop using it.".into(),
            sent_to_web: "Afterwards you will be sent to".into(),
            sent_to_loopback: "Afterwards you will be sent back to a program on this computer."
                .into(),
            sent_to_app_before:
                "Afterwards you will be sent to an app on your device that handles ".into(),
            sent_to_app_after: " links.".into(),
            remember: "Don't ask again for this app".into(),
            allow: "Allow".into(),
            deny: "Deny".into(),
            details: "Details".into(),
            details_for_developers: "Details for developers".into(),
            client_id: "Client id".into(),
            redirect_to: "Redirect URI".into(),
            api_address: "API".into(),
            scope: "Scope".into(),
            revoke_any_time: "You can revoke access at any time under".into(),
            connected_apps: "Connected apps".into(),
            connected_apps_lead: "These apps can use your account. Revoking access signs the app \
                                  out at once."
                .into(),
            no_connected_apps: "No app can use your account.".into(),
            granted_on: "Allowed".into(),
            last_used: "last used".into(),
            revoke_access: "Revoke access".into(),
            revoke_heading_before: "Revoke access for ".into(),
            revoke_heading_after: "?".into(),
            revoke_lead: "The app signs out at once and can no longer:".into(),
            access_revoked: "Access revoked. The app's tokens no longer work.".into(),
            cancel: "Cancel".into(),
            sign_in: "Sign in".into(),
            sign_in_to_continue_to: "Sign in to continue to".into(),
            username: "Username".into(),
            password: "Password".into(),
            error_with_app: "While connecting".into(),
            other_group: "Your account".into(),
            group_titles: BTreeMap::new(),
        }
    }

    /// The title of scope group `key`.
    #[must_use]
    pub fn group_title(&self, key: &str) -> String {
        if key.is_empty() {
            return self.other_group.to_string();
        }
        if let Some(t) = self.group_titles.get(key) {
            return t.clone();
        }
        let mut c = key.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    }
}

impl Default for Strings {
    fn default() -> Self {
        Self::english()
    }
}
