//! The demo's user directory: two users with passwords from the
//! configuration, both in the account [`DEMO_ACCOUNT`]: `alice` its owner,
//! `bob` a developer (or a viewer, with `--viewer bob`). The console passes
//! the role to the engine, which decides what each may do
//! ([`latchkey::Acting::check`]).
//!
//! A real host has its own user database; all the engine needs from it is a
//! [`Principal`] once someone has signed in.

use latchkey::{Principal, Role};
use ring::digest;

use crate::config::DEMO_ACCOUNT;
use latchkey::web::{ct_eq, Credentials, Session, SignIn};

/// One demo user.
#[derive(Clone)]
struct User {
    name: String,
    account: String,
    role: Role,
    /// SHA-256 of the password: compared in constant time, and fixed length
    /// so the comparison leaks nothing about the password's length either.
    password_hash: Vec<u8>,
}

/// The users who can sign in.
#[derive(Clone)]
pub struct Users {
    users: Vec<User>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        f.debug_struct("Users").field("names", &names).finish()
    }
}

fn hash(password: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, password.as_bytes())
        .as_ref()
        .to_vec()
}

impl Users {
    /// `alice` (owner) and `bob` (developer) with the given passwords, both
    /// in account `demo`.
    #[must_use]
    pub fn demo(alice_password: &str, bob_password: &str) -> Self {
        let user = |name: &str, pw: &str, role: Role| User {
            name: name.into(),
            account: DEMO_ACCOUNT.into(),
            role,
            password_hash: hash(pw),
        };
        Users {
            users: vec![
                user("alice", alice_password, Role::Owner),
                user("bob", bob_password, Role::Developer),
            ],
        }
    }

    /// The same users, those named in `viewers` demoted to viewers.
    #[must_use]
    pub fn with_viewers(mut self, viewers: &[String]) -> Self {
        for u in &mut self.users {
            if viewers.contains(&u.name) {
                u.role = Role::Viewer;
            }
        }
        self
    }

    /// The role of `username` in their account.
    #[must_use]
    pub fn role(&self, username: &str) -> Option<Role> {
        self.users
            .iter()
            .find(|u| u.name == username)
            .map(|u| u.role)
    }

    /// The principal for `username` if `password` is right. Every user's
    /// hash is compared so timing does not reveal which names exist.
    #[must_use]
    pub fn verify(&self, username: &str, password: &str) -> Option<Principal> {
        let presented = hash(password);
        let mut found = None;
        for u in &self.users {
            let ok = ct_eq(&presented, &u.password_hash);
            if ok && u.name == username {
                found = Some(u);
            }
        }
        found.map(|u| Principal {
            subject: u.name.clone(),
            account: u.account.clone(),
        })
    }

    /// The principal of a signed-in user.
    #[must_use]
    pub fn principal(&self, username: &str) -> Option<Principal> {
        self.users
            .iter()
            .find(|u| u.name == username)
            .map(|u| Principal {
                subject: u.name.clone(),
                account: u.account.clone(),
            })
    }
}

#[async_trait::async_trait]
impl SignIn for Users {
    async fn principal(&self, session: &Session) -> Option<Principal> {
        Users::principal(self, session.user.as_deref()?)
    }
}

#[async_trait::async_trait]
impl Credentials for Users {
    async fn check(&self, username: &str, password: &str) -> Option<String> {
        self.verify(username, password).map(|p| p.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_per_user() {
        let u = Users::demo("a-pw", "b-pw");
        assert_eq!(u.verify("alice", "a-pw").unwrap().account, "demo");
        assert!(u.verify("alice", "b-pw").is_none());
        assert!(u.verify("mallory", "a-pw").is_none());
        assert_eq!(u.principal("bob").unwrap().subject, "bob");
        assert_eq!(u.role("alice"), Some(Role::Owner));
        assert_eq!(u.role("bob"), Some(Role::Developer));
        let u = u.with_viewers(&["bob".to_owned()]);
        assert_eq!(u.role("bob"), Some(Role::Viewer));
    }
}
