//! Scopes as people read them: plain descriptions, grouped by what they
//! touch, with anything that changes or deletes marked.

use crate::scope::ScopeInfo;

/// Scope names ending in one of these (after `:`, `.` or `_`) can change
/// or delete something. A naming convention, not a guarantee: hosts whose
/// scopes are named otherwise describe the effect in the description.
const CHANGING: [&str; 9] = [
    "edit", "write", "delete", "manage", "admin", "create", "update", "modify", "remove",
];

/// `offline_access` (OpenID Connect Core §11) is shown as a sentence about
/// keeping access, not as a permission.
pub(crate) const OFFLINE: &str = "offline_access";

/// One permission line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// Scope name (sent back on partial approval).
    pub name: String,
    /// What it allows, in plain words.
    pub description: String,
    /// It can change or delete something.
    pub changes: bool,
    /// The app asked for it (not only implied by another scope), so the
    /// user may untick it on partial approval.
    pub requested: bool,
}

impl Permission {
    /// The line for `scope`: its description (its name when it has none)
    /// and whether it changes anything.
    #[must_use]
    pub fn of(scope: &ScopeInfo, requested: bool) -> Self {
        Permission {
            name: scope.name.clone(),
            description: if scope.description.is_empty() {
                scope.name.clone()
            } else {
                scope.description.clone()
            },
            changes: changes(&scope.name),
            requested,
        }
    }
}

/// Permissions that touch the same thing (the scope's prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Prefix (`dns` for `dns:read`), empty for scopes without one.
    pub key: String,
    /// Shown title.
    pub title: String,
    /// Changing permissions first.
    pub items: Vec<Permission>,
}

/// Whether a scope name can change or delete something.
#[must_use]
pub fn changes(name: &str) -> bool {
    let last = name.rsplit([':', '.', '_']).next().unwrap_or(name);
    CHANGING.iter().any(|w| last.eq_ignore_ascii_case(w))
}

fn key_of(name: &str) -> &str {
    name.split_once(':').map_or("", |(k, _)| k)
}

/// Groups `scopes` by prefix, in first-seen order, changing ones first in
/// each group. `offline_access` is left out (see [`OFFLINE`]).
pub(crate) fn group(
    scopes: &[ScopeInfo],
    requested: impl Fn(&str) -> bool,
    title: impl Fn(&str) -> String,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for s in scopes.iter().filter(|s| s.name != OFFLINE) {
        let key = key_of(&s.name);
        let p = Permission::of(s, requested(&s.name));
        match groups.iter_mut().find(|g| g.key == key) {
            Some(g) => g.items.push(p),
            None => groups.push(Group {
                key: key.to_owned(),
                title: title(key),
                items: vec![p],
            }),
        }
    }
    for g in &mut groups {
        g.items.sort_by_key(|p| !p.changes);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changing_scopes_are_recognised() {
        for s in ["dns:edit", "repo.write", "files_delete", "org:ADMIN"] {
            assert!(changes(s), "{s}");
        }
        for s in ["dns:read", "profile", "editor:view", "offline_access"] {
            assert!(!changes(s), "{s}");
        }
    }

    #[test]
    fn groups_by_prefix_changes_first() {
        let info = |n: &str| ScopeInfo {
            name: n.into(),
            description: format!("d {n}"),
        };
        let g = group(
            &[
                info("dns:read"),
                info("profile:read"),
                info("dns:edit"),
                info(OFFLINE),
            ],
            |n| n != "dns:read",
            str::to_uppercase,
        );
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].title, "DNS");
        let names: Vec<&str> = g[0].items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dns:edit", "dns:read"]);
        assert!(!g[0].items[1].requested);
    }
}
