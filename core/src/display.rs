//! Text an app puts in front of people: its name and the other fields a
//! page shows. Every one of them is chosen by whoever registers the app
//! (RFC 7591 §5, "Human-readable client metadata" is attacker-controlled;
//! RFC 6819 §4.4.1.4 on spoofed clients), so before one is stored it must
//! be plain visible text:
//!
//! - no control characters, no bidirectional controls (U+202A–U+202E,
//!   U+2066–U+2069, U+200E/U+200F, U+061C: one right-to-left override
//!   reorders the consent title), no invisible characters (zero-width
//!   spaces and joiners, U+2060, U+FEFF, the soft hyphen, tag characters,
//!   variation selectors, Hangul fillers, any other format character), no
//!   private-use or unassigned code points, no separator but the space;
//! - in Unicode normalisation form NFKC (UAX #15), so compatibility
//!   look-alikes (fullwidth letters, ligatures, mathematical letters) are
//!   stored as the letters they imitate;
//! - a name must not be confusable (UTS #39 §4 skeletons, case and
//!   punctuation ignored) with the words the pages use about apps
//!   ("verified", the product's name, the buttons), nor with another
//!   owner's app ([`crate::Engine`] checks that against storage);
//! - a URL is visible ASCII (RFC 3986 §2: an internationalised host is
//!   written in its `xn--` form, which cannot hide a look-alike).
//!
//! Pages also render every such string isolated (`<bdi>`, `dir="auto"`,
//! U+2068…U+2069 in a `<title>`), for records stored before these rules.

use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::UnicodeNormalization as _;

use crate::error::Error;

/// Words of the pages themselves that no app name may look like: the
/// trust badge and the library's own name anywhere in a name, the buttons
/// as a whole name. Hosts add their product's name through
/// [`crate::config::EngineConfig::reserved_client_names`].
pub const RESERVED_WORDS: [&str; 2] = ["verified", "latchkey"];

/// Button and heading words a name may not consist of.
pub const RESERVED_NAMES: [&str; 6] =
    ["allow", "deny", "cancel", "authorize", "approve", "sign in"];

/// More combining marks than this on one letter is "Zalgo" text, which
/// draws over the lines around it.
const MAX_MARKS: usize = 3;

fn meta(why: String) -> Error {
    Error::InvalidClientMetadata(why.into())
}

/// Why `c` may not appear in displayed text, if it may not.
fn forbidden(c: char) -> Option<&'static str> {
    let u = u32::from(c);
    // Default-ignorable characters the general category calls letters or
    // marks: variation selectors, the combining grapheme joiner, Hangul
    // fillers, Mongolian free variation selectors, Khmer inherent vowels,
    // the blank Braille pattern.
    let invisible = matches!(
        u,
        0xFE00..=0xFE0F
            | 0xE0100..=0xE01EF
            | 0x180B..=0x180F
            | 0x034F
            | 0x115F
            | 0x1160
            | 0x3164
            | 0xFFA0
            | 0x17B4
            | 0x17B5
            | 0x2800
    );
    if invisible {
        return Some("an invisible character");
    }
    if matches!(u, 0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F | 0x061C) {
        return Some("a bidirectional control character");
    }
    match get_general_category(c) {
        G::Control => Some("a control character"),
        G::Format => Some("an invisible formatting character"),
        G::PrivateUse | G::Unassigned | G::Surrogate => Some("an unassigned or private character"),
        G::LineSeparator | G::ParagraphSeparator => Some("a line break"),
        G::SpaceSeparator if c != ' ' => Some("a space other than U+0020"),
        _ => None,
    }
}

/// `value` as it is stored: trimmed, in NFKC, runs of spaces made one.
#[must_use]
pub fn normalise(value: &str) -> String {
    let nfkc: String = value.trim().nfkc().collect();
    let mut out = String::with_capacity(nfkc.len());
    for word in nfkc.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Checks displayed text `value` of `field` (already [`normalise`]d):
/// nothing invisible, nothing that reorders or breaks the line, no pile of
/// combining marks.
///
/// # Errors
/// `invalid_client_metadata` naming the field, the kind of character and
/// its code point.
pub fn check_text(field: &str, value: &str) -> Result<(), Error> {
    let mut marks = 0;
    for c in value.chars() {
        if let Some(why) = forbidden(c) {
            return Err(meta(format!(
                "{field} contains {why} (U+{:04X}); use plain visible text",
                u32::from(c)
            )));
        }
        marks = if matches!(
            get_general_category(c),
            G::NonspacingMark | G::EnclosingMark
        ) {
            marks + 1
        } else {
            0
        };
        if marks > MAX_MARKS {
            return Err(meta(format!(
                "{field} stacks more than {MAX_MARKS} combining marks on one letter"
            )));
        }
    }
    if normalise(value) != value {
        return Err(meta(format!(
            "{field} must be in Unicode normal form NFKC, trimmed, with single spaces"
        )));
    }
    Ok(())
}

/// Checks that URL `value` of `field` is visible ASCII (RFC 3986 §2), so a
/// look-alike host must show as `xn--…`.
///
/// # Errors
/// `invalid_client_metadata` naming the field.
pub fn check_url_text(field: &str, value: &str) -> Result<(), Error> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(meta(format!(
            "{field} must be visible ASCII: write an internationalised host in its xn-- form and percent-encode the rest"
        )))
    }
}

/// What two names that look alike share: the UTS #39 skeleton of the
/// lower-cased name, keeping only letters and digits (so "Demo-Web App",
/// "demo web app", "Dernо Web App" and "Dеmo Wеb Aрp" with Cyrillic
/// letters all give one skeleton).
#[must_use]
pub fn skeleton(name: &str) -> String {
    use unicode_security::confusable_detection::skeleton as uts39;
    // Skeleton first, so a capital I still reads as the l it imitates;
    // then case folded and the skeleton taken again, so "ACME" and "acme"
    // (whose m becomes rn) meet.
    let first: String = uts39(&normalise(name)).collect();
    let folded: String = uts39(&first.to_lowercase()).collect();
    folded
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Checks an app name: [`check_text`], at most `max_chars` characters, at
/// least one letter or digit, and not confusable with the pages' own words
/// ([`RESERVED_WORDS`] and `extra` anywhere in it, [`RESERVED_NAMES`] as
/// the whole name).
///
/// # Errors
/// `invalid_client_metadata` saying what is wrong.
pub fn check_name(name: &str, max_chars: usize, extra: &[String]) -> Result<(), Error> {
    if name.is_empty() || name.chars().count() > max_chars {
        return Err(meta(format!("name must be 1 to {max_chars} characters")));
    }
    check_text("name", name)?;
    let skel = skeleton(name);
    if skel.is_empty() {
        return Err(meta("name must contain a letter or a digit".into()));
    }
    let words = RESERVED_WORDS
        .iter()
        .map(|w| (*w).to_owned())
        .chain(extra.iter().cloned());
    for w in words {
        let ws = skeleton(&w);
        if !ws.is_empty() && skel.contains(&ws) {
            return Err(meta(format!(
                "name must not contain or imitate \"{w}\": the page uses that word itself"
            )));
        }
    }
    if RESERVED_NAMES.iter().any(|w| skeleton(w) == skel) {
        return Err(meta(
            "name must not be, or look like, a word of the consent page's buttons".into(),
        ));
    }
    Ok(())
}

/// Wraps `text` in Unicode's first-strong isolate (U+2068 … U+2069), for
/// places markup cannot isolate (a `<title>`, plain-text mail): whatever
/// directional characters it holds end inside.
#[must_use]
pub fn isolate(text: &str) -> String {
    format!("\u{2068}{text}\u{2069}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_reordering_characters_are_refused() {
        for bad in [
            "Demo\u{202E}ppA",
            "Demo\u{2066}x\u{2069}",
            "De\u{200B}mo",
            "De\u{200D}mo",
            "De\u{2060}mo",
            "De\u{FEFF}mo",
            "De\u{00AD}mo",
            "De\u{200E}mo",
            "De\u{061C}mo",
            "Demo\u{E0041}",
            "Demo\u{FE0F}",
            "Demo\u{0007}",
            "Demo\nApp",
            "Demo\u{2028}App",
            "Demo\u{00A0}App",
            "Demo\u{E000}",
            "Demo\u{3164}App",
            "Z\u{0300}\u{0301}\u{0302}\u{0303}",
        ] {
            let e = check_text("name", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_client_metadata", "{bad:?}");
            assert!(e.description().contains("name"), "{}", e.description());
        }
        check_text("name", "Café Déjà vu — 日本語 العربية").unwrap();
        check_text("name", "x\u{0301}\u{0301}").unwrap();
    }

    #[test]
    fn normalising_folds_compatibility_look_alikes() {
        assert_eq!(normalise("  Ｄｅｍｏ   ﬁle  "), "Demo file");
        assert_eq!(normalise("Cafe\u{0301}"), "Café");
        assert!(
            check_text("name", "Ｄｅｍｏ").is_err(),
            "not stored as typed"
        );
    }

    #[test]
    fn confusable_names_share_a_skeleton() {
        assert_eq!(skeleton("Demo Web App"), skeleton("demo web app"));
        assert_eq!(
            skeleton("Demo Web App"),
            skeleton("Dernо Web Арр"),
            "rn for m"
        );
        assert_eq!(
            skeleton("Dеmo Wеb Aрp"),
            skeleton("Demo Web App"),
            "Cyrillic е, р"
        );
        assert_eq!(skeleton("demo-web.app"), skeleton("Demo Web App"));
        assert_eq!(skeleton("PayPaI"), skeleton("paypal"), "capital I for l");
        assert_eq!(skeleton("ACME"), skeleton("acme"));
        assert_ne!(skeleton("Demo Web App"), skeleton("Demo Mail App"));
    }

    #[test]
    fn names_that_imitate_the_page_are_refused() {
        let none: &[String] = &[];
        for bad in [
            "Verified App",
            "Vеrifiеd",
            "LatchKey Helper",
            "Allow",
            "DENY",
            "",
            "--",
        ] {
            assert!(check_name(bad, 100, none).is_err(), "{bad}");
        }
        let acme = ["Acme Cloud".to_owned()];
        assert!(check_name("acme-cloud support", 100, &acme).is_err());
        check_name("Allowance Tracker", 100, none).unwrap();
        check_name("Acme", 100, &acme).unwrap();
        assert!(check_name(&"x".repeat(101), 100, none).is_err());
    }

    #[test]
    fn isolates_wrap() {
        assert_eq!(isolate("a"), "\u{2068}a\u{2069}");
    }

    #[test]
    fn urls_are_ascii() {
        check_url_text("client_uri", "https://xn--pple-43d.example/").unwrap();
        assert!(check_url_text("client_uri", "https://аpple.example/").is_err());
        assert!(check_url_text("client_uri", "https://a.example/\u{202E}").is_err());
    }
}
