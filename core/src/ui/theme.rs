//! A host's look: product name, logo, accent colour, own stylesheet, and
//! the built-in stylesheet derived from them with WCAG AA contrast.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::digest;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    /// Parses `#rrggbb`.
    #[must_use]
    pub fn parse(hex: &str) -> Option<Self> {
        let h = hex.strip_prefix('#')?;
        if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Colour(p(0)?, p(2)?, p(4)?))
    }

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Relative luminance (WCAG 2.x).
    fn luminance(self) -> f64 {
        let ch = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(self.0) + 0.7152 * ch(self.1) + 0.0722 * ch(self.2)
    }

    /// WCAG contrast ratio between two colours (1 to 21).
    #[must_use]
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }

    /// Darkened towards black in steps until it reaches `ratio` against
    /// `background` (or black).
    fn until_contrast(self, background: Colour, ratio: f64) -> Colour {
        let mut c = self;
        for _ in 0..40 {
            if c.contrast(background) >= ratio {
                return c;
            }
            let f = |v: u8| (f64::from(v) * 0.9) as u8;
            c = Colour(f(c.0), f(c.1), f(c.2));
        }
        Colour(0, 0, 0)
    }
}

const WHITE: Colour = Colour(255, 255, 255);
const BLACK: Colour = Colour(0, 0, 0);
/// WCAG 2.1 AA for normal text.
const AA: f64 = 4.5;

/// How the pages look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Shown in the header and the title of every page.
    pub product_name: String,
    /// A logo image URL (same origin or `https:`), shown at 28 px.
    pub logo_url: Option<String>,
    /// Buttons, links and focus rings. Links are darkened if needed to keep
    /// 4.5:1 contrast on white; button text is white or black, whichever
    /// contrasts more.
    pub accent: Colour,
    /// A stylesheet of the host's, loaded after the built-in one.
    pub stylesheet_url: Option<String>,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            product_name: "Latchkey".into(),
            logo_url: None,
            accent: Colour(0x0b, 0x57, 0xd0),
            stylesheet_url: None,
        }
    }
}

impl Theme {
    /// The built-in stylesheet for this theme.
    #[must_use]
    pub fn css(&self) -> String {
        let link = self.accent.until_contrast(WHITE, AA);
        let on_accent = if self.accent.contrast(WHITE) >= self.accent.contrast(BLACK) {
            WHITE
        } else {
            BLACK
        };
        format!(
            "{BASE_CSS}a{{color:{link}}}button.primary{{background:{accent};color:{on};border-color:{accent}}}\
             :focus-visible{{outline:3px solid {link};outline-offset:2px}}",
            link = link.hex(),
            accent = self.accent.hex(),
            on = on_accent.hex(),
        )
    }

    /// The CSP source for the built-in stylesheet: its SHA-256 hash, so no
    /// other inline style is allowed.
    #[must_use]
    pub fn css_hash(css: &str) -> String {
        let d = digest::digest(&digest::SHA256, css.as_bytes());
        format!("'sha256-{}'", STANDARD.encode(d.as_ref()))
    }
}

/// Layout and colours that do not depend on the theme. Body text #1f1f1f
/// and muted text #595959 both exceed 7:1 / 4.5:1 on white.
const BASE_CSS: &str = "*{box-sizing:border-box}\
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#1f1f1f;background:#fff;margin:0}\
.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;border-bottom:1px solid #d0d0d0}\
.brand{font-weight:600;display:flex;align-items:center;gap:.5rem}\
nav{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:center;font-size:.95rem}\
main{max-width:40rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;line-height:1.3;overflow-wrap:anywhere}h2{font-size:1.15rem}\
.app,bdi{overflow-wrap:anywhere}\
.note{border-left:4px solid #8a8a8a;background:#f5f5f5;padding:.5rem .75rem}\
.ok{border-color:#1e7d32}.warn{border-color:#a15c00;background:#fff6e5}.error{border-color:#b3261e;background:#fdecea}\
fieldset{border:1px solid #d0d0d0;border-radius:6px;margin:0 0 .75rem;padding:.5rem .75rem}\
legend{font-weight:600;padding:0 .25rem}\
ul.scopes{list-style:none;padding:0;margin:0}ul.scopes li{padding:.35rem 0;display:flex;gap:.5rem;align-items:flex-start}\
li.changes{font-weight:600}.tag{font-size:.8rem;font-weight:600;color:#8c1d18;border:1px solid #8c1d18;border-radius:4px;padding:0 .3rem;white-space:nowrap}\
input[type=checkbox]{width:1.25rem;height:1.25rem;margin:.15rem 0 0;flex:none}ul.scopes label{display:inline;margin:0}\
label{display:block;margin:.5rem 0 .25rem}label.remember{display:flex;gap:.5rem;align-items:center}\
input[type=text],input[type=password]{width:100%;font:inherit;padding:.6rem;border:1px solid #767676;border-radius:4px}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}\
button{font:inherit;padding:.6rem 1.25rem;border-radius:6px;border:1px solid #767676;background:#fff;color:#1f1f1f;cursor:pointer;min-height:44px}\
a.button{display:inline-flex;align-items:center;font:inherit;padding:.6rem 1.25rem;border-radius:6px;border:1px solid #767676;color:#1f1f1f;text-decoration:none;min-height:44px}\
button.danger{color:#8c1d18;border-color:#8c1d18}\
button.link{border:none;background:none;padding:0;min-height:0;color:inherit;text-decoration:underline}\
form.inline{display:inline}.who{margin-bottom:.25rem}form.switch{display:block;margin:0 0 1rem}\
details{margin:1rem 0}summary{cursor:pointer}dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem}dd{margin:0;overflow-wrap:anywhere}\
code{font-family:ui-monospace,monospace;background:#f2f2f2;padding:0 .25rem;overflow-wrap:anywhere}\
.small{font-size:.9rem;color:#595959}ul.apps{list-style:none;padding:0}.app-row{border-bottom:1px solid #d0d0d0;padding:.5rem 0 1rem}\
@media (max-width:30rem){.actions button,.actions a.button{flex:1 1 100%;justify-content:center}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_is_kept_for_any_accent() {
        assert!((BLACK.contrast(WHITE) - 21.0).abs() < 1e-9);
        for hex in [
            "#ffff00", "#00ff00", "#0b57d0", "#ff7f7f", "#000000", "#ffffff",
        ] {
            let c = Colour::parse(hex).unwrap();
            let link = c.until_contrast(WHITE, AA);
            assert!(link.contrast(WHITE) >= AA, "{hex}");
            let on = if c.contrast(WHITE) >= c.contrast(BLACK) {
                WHITE
            } else {
                BLACK
            };
            // Black or white on any colour reaches at least 4.58:1.
            assert!(on.contrast(c) >= AA, "{hex}");
        }
        assert_eq!(Colour::parse("#12345"), None);
        assert_eq!(Colour::parse("123456"), None);
    }
}
