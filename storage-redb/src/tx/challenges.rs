//! Consent challenges and their expiry index.

use latchkey::clock::Timestamp;
use latchkey::model::ChallengeRecord;
use latchkey::storage::rules;
use latchkey::token::TokenHash;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::by_hash;

impl Tx<'_> {
    /// The challenge with `hash`.
    pub(crate) fn challenge(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<ChallengeRecord>, Failure> {
        by_hash(&*self.t.challenges()?, &hash.0)
    }

    /// Stores a new challenge and its expiry entry.
    pub(crate) fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<(), Failure> {
        self.touch();
        self.t
            .challenges()?
            .insert(&c.hash.0, encode(c)?.as_slice())?;
        self.t
            .challenge_expiry()?
            .insert(expiry_key(c.expires_at, &c.hash.0).as_slice(), ())?;
        Ok(())
    }

    /// Takes (deletes and returns) the challenge with `hash` if it is live
    /// at `now` ([`rules::challenge_is_live`]); otherwise changes nothing.
    pub(crate) fn take_challenge(
        &mut self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ChallengeRecord>, Failure> {
        match self.challenge(hash)? {
            Some(c) if rules::challenge_is_live(&c, now) => {
                self.remove_challenge(&c)?;
                Ok(Some(c))
            }
            _ => Ok(None),
        }
    }

    /// Deletes a challenge and its expiry entry.
    fn remove_challenge(&mut self, c: &ChallengeRecord) -> Result<(), Failure> {
        self.touch();
        self.t.challenges()?.remove(&c.hash.0)?;
        self.t
            .challenge_expiry()?
            .remove(expiry_key(c.expires_at, &c.hash.0).as_slice())?;
        Ok(())
    }
}
