//! The ready device-verification pages (feature `ui`): an accessible code
//! field, escaping, errors announced, and the decided page.
#![cfg(feature = "ui")]

use latchkey::ui::Ui;
use latchkey::web::flow::{DeviceEntryPage, EntryProblem};

fn body(r: &latchkey::http::HttpResponse) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

#[test]
fn the_code_field_is_labelled_and_typed_for_codes() {
    let ui = Ui::default();
    let r = ui.device_entry(&DeviceEntryPage {
        action: "/device",
        csrf: "tok\"en",
        user_code: "WDJB-MJHT",
        problem: None,
    });
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let html = body(&r);
    assert!(html.contains(r#"<label for="user_code">"#));
    assert!(html.contains(r#"id="user_code""#));
    assert!(html.contains(r#"autocomplete="off""#));
    assert!(html.contains(r#"inputmode="text""#));
    assert!(html.contains(r#"autocapitalize="characters""#));
    assert!(html.contains(r#"value="WDJB-MJHT""#));
    assert!(html.contains("tok&#34;en") || html.contains("tok&quot;en"));
    assert!(!html.contains("aria-invalid"));
    assert!(
        html.contains(r#"name="viewport""#),
        "laid out for small screens"
    );
}

#[test]
fn a_wrong_code_is_announced_and_a_lockout_is_429() {
    let ui = Ui::default();
    let page = |problem| DeviceEntryPage {
        action: "/device",
        csrf: "t",
        user_code: "",
        problem: Some(problem),
    };
    let r = ui.device_entry(&page(EntryProblem::NotValid));
    assert_eq!(r.status, 400);
    let html = body(&r);
    assert!(html.contains(r#"role="alert""#) && html.contains(r#"aria-invalid="true""#));
    assert_eq!(
        ui.device_entry(&page(EntryProblem::TooManyAttempts)).status,
        429
    );
}

#[test]
fn the_decided_page_names_the_app_escaped() {
    let r = Ui::default().device_decided(true, "<TV>");
    assert_eq!(r.status, 200);
    let html = body(&r);
    assert!(
        html.contains("&#60;TV&#62;") && !html.contains("<TV>"),
        "{html}"
    );
    assert!(html.contains("Return to your device"));
}
