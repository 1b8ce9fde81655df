//! Authorization codes and their expiry index.

use latchkey::model::CodeRecord;
use latchkey::token::TokenHash;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::by_hash;

impl Tx<'_> {
    /// The code with `hash`.
    pub(crate) fn code(&mut self, hash: &TokenHash) -> Result<Option<CodeRecord>, Failure> {
        by_hash(&*self.t.codes()?, &hash.0)
    }

    /// Writes a code, keeping its expiry entry in step with `old`.
    pub(crate) fn put_code(
        &mut self,
        code: &CodeRecord,
        old: Option<&CodeRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != code.expires_at {
                self.t
                    .code_expiry()?
                    .remove(expiry_key(old.expires_at, &old.hash.0).as_slice())?;
            }
        }
        self.t
            .codes()?
            .insert(&code.hash.0, encode(code)?.as_slice())?;
        self.t
            .code_expiry()?
            .insert(expiry_key(code.expires_at, &code.hash.0).as_slice(), ())?;
        Ok(())
    }
}
