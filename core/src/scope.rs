//! Scopes (RFC 6749 §3.3) and the registry that mirrors API permissions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest scope token accepted; permission names are short.
pub const MAX_SCOPE_TOKEN_LEN: usize = 128;
/// Most scope tokens accepted in one request.
pub const MAX_SCOPE_TOKENS: usize = 64;

/// A set of scope tokens, kept sorted so its text form is canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// The empty set.
    #[must_use]
    pub fn new() -> Self {
        ScopeSet(BTreeSet::new())
    }

    /// Parses the `scope` parameter: `scope-token *( SP scope-token )` with
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3).
    /// Repeated tokens are tolerated (a set has no order or multiplicity).
    ///
    /// # Errors
    /// `invalid_scope` on any syntax violation, over-long token or too many
    /// tokens.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut set = BTreeSet::new();
        for (i, tok) in s.split(' ').enumerate() {
            if i >= MAX_SCOPE_TOKENS {
                return Err(Error::InvalidScope("too many scopes".into()));
            }
            if tok.is_empty() {
                return Err(Error::InvalidScope(
                    "scopes must be separated by single spaces".into(),
                ));
            }
            if tok.len() > MAX_SCOPE_TOKEN_LEN || !tok.bytes().all(is_scope_char) {
                return Err(Error::InvalidScope("malformed scope token".into()));
            }
            set.insert(tok.to_owned());
        }
        Ok(ScopeSet(set))
    }

    /// Builds a set from tokens already known to be valid (configuration).
    ///
    /// # Errors
    /// `invalid_scope` if any token is malformed.
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for t in tokens {
            let t = t.into();
            if t.is_empty() || t.len() > MAX_SCOPE_TOKEN_LEN || !t.bytes().all(is_scope_char) {
                return Err(Error::InvalidScope("malformed scope token".into()));
            }
            set.insert(t);
        }
        Ok(ScopeSet(set))
    }

    /// Whether the set has no tokens.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is in the set.
    #[must_use]
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether every token of `self` is in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The union of both sets.
    #[must_use]
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

/// One registered scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDefinition {
    /// What the consent screen says this scope allows.
    pub description: String,
    /// Scopes that holding this one also grants (`dns:edit` → `dns:read`).
    #[serde(default)]
    pub implies: Vec<String>,
}

/// Every scope the server knows, mirroring the API's permissions.
#[derive(Clone, Debug, Default)]
pub struct ScopeRegistry {
    scopes: BTreeMap<String, ScopeDefinition>,
}

/// One scope as a consent screen or dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeInfo {
    /// Scope name.
    pub name: String,
    /// Registered description (empty for a scope no longer registered).
    pub description: String,
}

impl ScopeRegistry {
    /// Each scope of `set` with its registered description, in order.
    #[must_use]
    pub fn describe(&self, set: &ScopeSet) -> Vec<ScopeInfo> {
        set.iter()
            .map(|name| ScopeInfo {
                name: name.to_owned(),
                description: self
                    .get(name)
                    .map(|d| d.description.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name` with a consent-screen description and implications.
    ///
    /// # Errors
    /// `invalid_scope` when a name is malformed or an implication is not
    /// registered before it.
    pub fn register(
        mut self,
        name: &str,
        description: &str,
        implies: &[&str],
    ) -> Result<Self, Error> {
        ScopeSet::from_tokens([name])?;
        for i in implies {
            if !self.scopes.contains_key(*i) {
                return Err(Error::InvalidScope(
                    format!("implied scope {i} must be registered first").into(),
                ));
            }
        }
        self.scopes.insert(
            name.to_owned(),
            ScopeDefinition {
                description: description.to_owned(),
                implies: implies.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        Ok(self)
    }

    /// The definition of `name`, if registered.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ScopeDefinition> {
        self.scopes.get(name)
    }

    /// All registered scope names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(String::as_str)
    }

    /// Checks that every token is registered.
    ///
    /// # Errors
    /// `invalid_scope` naming the first unknown token. Unknown scopes are
    /// rejected, never silently dropped.
    pub fn check_known(&self, set: &ScopeSet) -> Result<(), Error> {
        for t in set.iter() {
            if !self.scopes.contains_key(t) {
                return Err(Error::InvalidScope(format!("unknown scope {t}").into()));
            }
        }
        Ok(())
    }

    /// `set` plus everything its members imply, transitively.
    #[must_use]
    pub fn expand(&self, set: &ScopeSet) -> ScopeSet {
        let mut out: BTreeSet<String> = set.0.clone();
        let mut todo: Vec<String> = set.0.iter().cloned().collect();
        while let Some(t) = todo.pop() {
            if let Some(def) = self.scopes.get(&t) {
                for i in &def.implies {
                    if out.insert(i.clone()) {
                        todo.push(i.clone());
                    }
                }
            }
        }
        ScopeSet(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_follows_rfc_6749_3_3() {
        assert_eq!(ScopeSet::parse("b a b").unwrap().to_string(), "a b");
        assert!(ScopeSet::parse("").is_err());
        assert!(ScopeSet::parse("a  b").is_err());
        assert!(ScopeSet::parse(" a").is_err());
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("é").is_err());
        assert!(ScopeSet::parse("dns:edit zones:read").is_ok());
    }

    #[test]
    fn implications_are_transitive() {
        let r = ScopeRegistry::new()
            .register("a", "A", &[])
            .unwrap()
            .register("b", "B", &["a"])
            .unwrap()
            .register("c", "C", &["b"])
            .unwrap();
        assert_eq!(
            r.expand(&ScopeSet::parse("c").unwrap()).to_string(),
            "a b c"
        );
        assert!(r.check_known(&ScopeSet::parse("c d").unwrap()).is_err());
        assert!(ScopeRegistry::new().register("x", "X", &["y"]).is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back(tokens in proptest::collection::btree_set("[!#-\\[\\]-~]{1,12}", 1..8)) {
            let set = ScopeSet::from_tokens(tokens.iter().cloned()).unwrap();
            let again = ScopeSet::parse(&set.to_string()).unwrap();
            prop_assert_eq!(set, again);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,64}") {
            if let Ok(set) = ScopeSet::parse(&s) {
                prop_assert!(!set.is_empty());
                for t in set.iter() { prop_assert!(t.bytes().all(is_scope_char)); }
            }
        }
    }
}
