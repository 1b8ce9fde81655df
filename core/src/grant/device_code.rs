//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628
//! §3.4–3.5): the device polls with its device code until the user has
//! decided at the verification page.
//!
//! The user's approval is the record [`crate::storage::GrantStore::approve`]
//! stored under the device code's hash, so redeeming it is
//! [`crate::storage::CodeStore::redeem_code`]: exactly once, however many
//! polls race.

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::{DevicePollError, Error};
use crate::grant::{builtin_grant, narrow_resources, TokenResponse};
use crate::http::Params;
use crate::model::{ClientRecord, CodeRecord, CodeStatus, DeviceStatus};
use crate::storage::{DevicePoll, RedeemOutcome, Storage};
use crate::token::TokenKind;

/// What a recorded poll leads to, besides issuing tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollRefusal {
    /// RFC 8628 §3.5 error for the device to act on.
    Wait(DevicePollError),
    /// `invalid_grant`: unknown, used, or another client's device code.
    Invalid,
}

/// Decides a poll (pure): from what [`crate::storage::DeviceStore::poll_device`]
/// recorded and the approval stored under the device code, if any.
/// Precedence: a code that is unknown, used or another client's is
/// `invalid_grant`; then expiry; then denial; then `slow_down`; then
/// `authorization_pending` until an approval exists.
///
/// # Errors
/// The refusal.
pub fn decide_poll(
    poll: &DevicePoll,
    approval: Option<&CodeRecord>,
    client_id: &str,
    now: Timestamp,
) -> Result<(), PollRefusal> {
    let (device, slow) = match poll {
        DevicePoll::Polled(d) => (d, false),
        DevicePoll::SlowDown(d) => (d, true),
        DevicePoll::Expired => return Err(PollRefusal::Wait(DevicePollError::ExpiredToken)),
        _ => return Err(PollRefusal::Invalid),
    };
    if let Some(a) = approval {
        if a.client_id != client_id || a.status != CodeStatus::Unused {
            return Err(PollRefusal::Invalid);
        }
    }
    if device.expires_at <= now || approval.is_some_and(|a| a.expires_at <= now) {
        return Err(PollRefusal::Wait(DevicePollError::ExpiredToken));
    }
    if device.status == DeviceStatus::Denied {
        return Err(PollRefusal::Wait(DevicePollError::AccessDenied));
    }
    if slow {
        return Err(PollRefusal::Wait(DevicePollError::SlowDown));
    }
    if approval.is_none() {
        return Err(PollRefusal::Wait(DevicePollError::AuthorizationPending));
    }
    Ok(())
}

builtin_grant!(
    /// The device-code handler for the [`crate::grant::GrantRegistry`].
    DeviceCodeGrant, DeviceCode, exchange_device_code
);

fn invalid_grant() -> Error {
    Error::InvalidGrant("device code is invalid, expired, or already used".into())
}

impl<S: Storage + ?Sized> Engine<S> {
    pub(crate) async fn exchange_device_code(
        &self,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error> {
        let presented = params.required("device_code")?;
        let hash = self
            .keys
            .hash(TokenKind::DeviceCode, presented)
            .ok_or_else(invalid_grant)?;
        let now = self.now();
        let poll = self.store.poll_device(&hash, &client.id, now).await?;
        let approval = match &poll {
            DevicePoll::Polled(_) | DevicePoll::SlowDown(_) => self.store.get_code(&hash).await?,
            _ => None,
        };
        match decide_poll(&poll, approval.as_ref(), &client.id, now) {
            Ok(()) => {}
            Err(PollRefusal::Wait(e)) => return Err(Error::DevicePoll(e)),
            Err(PollRefusal::Invalid) => return Err(invalid_grant()),
        }
        let approval = approval.ok_or_else(invalid_grant)?;
        let resources = narrow_resources(params.all("resource"), &approval.resources)?;
        let (issuance, response) = self.first_tokens(client, &approval, resources, now)?;
        match self.store.redeem_code(&hash, now, &issuance).await? {
            RedeemOutcome::Issued => Ok(response),
            // Another poll got the tokens first. Unlike a replayed
            // authorization code this revokes nothing: polls of one device
            // are expected to overlap, and the winner is that device.
            _ => Err(invalid_grant()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeviceRecord;
    use crate::scope::ScopeSet;
    use crate::token::TokenHash;

    fn device(status: DeviceStatus) -> DeviceRecord {
        DeviceRecord {
            hash: TokenHash([1; 32]),
            user_code: TokenHash([2; 32]),
            client_id: "c".into(),
            scopes: ScopeSet::parse("a").unwrap(),
            resources: vec![],
            created_at: Timestamp(100),
            expires_at: Timestamp(700),
            interval: 5,
            last_poll: Some(Timestamp(100)),
            status,
        }
    }

    fn approval(status: CodeStatus) -> CodeRecord {
        CodeRecord {
            hash: TokenHash([1; 32]),
            client_id: "c".into(),
            grant_id: "g".into(),
            subject: "alice".into(),
            redirect_uri: String::new(),
            redirect_uri_explicit: false,
            scopes: ScopeSet::parse("a").unwrap(),
            resources: vec![],
            code_challenge: String::new(),
            issued_at: Timestamp(100),
            expires_at: Timestamp(700),
            failed_attempts: 0,
            status,
        }
    }

    const NOW: Timestamp = Timestamp(200);

    fn wait(e: DevicePollError) -> Result<(), PollRefusal> {
        Err(PollRefusal::Wait(e))
    }

    #[test]
    fn each_state_gets_its_answer() {
        let polled = DevicePoll::Polled(device(DeviceStatus::Pending));
        let slow = DevicePoll::SlowDown(device(DeviceStatus::Pending));
        let denied = DevicePoll::Polled(device(DeviceStatus::Denied));
        let ok = approval(CodeStatus::Unused);
        assert_eq!(
            decide_poll(&polled, None, "c", NOW),
            wait(DevicePollError::AuthorizationPending)
        );
        assert_eq!(decide_poll(&polled, Some(&ok), "c", NOW), Ok(()));
        assert_eq!(
            decide_poll(&slow, Some(&ok), "c", NOW),
            wait(DevicePollError::SlowDown)
        );
        assert_eq!(
            decide_poll(&denied, Some(&ok), "c", NOW),
            wait(DevicePollError::AccessDenied)
        );
        assert_eq!(
            decide_poll(&DevicePoll::Expired, None, "c", NOW),
            wait(DevicePollError::ExpiredToken)
        );
        assert_eq!(
            decide_poll(&polled, Some(&ok), "c", Timestamp(700)),
            wait(DevicePollError::ExpiredToken)
        );
        assert_eq!(
            decide_poll(&DevicePoll::NotFound, None, "c", NOW),
            Err(PollRefusal::Invalid)
        );
    }

    #[test]
    fn used_or_foreign_approvals_are_invalid_before_anything_else() {
        let slow = DevicePoll::SlowDown(device(DeviceStatus::Denied));
        let used = approval(CodeStatus::Redeemed {
            family_id: "f".into(),
        });
        assert_eq!(
            decide_poll(&slow, Some(&used), "c", NOW),
            Err(PollRefusal::Invalid)
        );
        let ok = approval(CodeStatus::Unused);
        assert_eq!(
            decide_poll(&slow, Some(&ok), "other", NOW),
            Err(PollRefusal::Invalid)
        );
    }
}
