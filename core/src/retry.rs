//! One retry loop for the optimistic operations: a compare-and-swap that a
//! concurrent writer won is re-read and tried again a bounded number of
//! times, then reported as `temporarily_unavailable`, never as a false
//! success and never as a silent loss of the other writer's change.

use std::future::Future;

use crate::error::Error;

/// How one attempt of an optimistic operation ended.
pub(crate) enum Attempt<T> {
    /// Finished (successfully or with a final answer inside `T`).
    Done(T),
    /// Lost a race to a concurrent writer: re-read and try again.
    Lost,
}

/// Runs `attempt(0)`, `attempt(1)`, … until one is [`Attempt::Done`], at
/// most `tries` times. `what` names the operation in the final error.
pub(crate) async fn retry_lost_races<T, E, F, Fut>(
    tries: u32,
    what: &'static str,
    mut attempt: F,
) -> Result<T, E>
where
    E: From<Error>,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Attempt<T>, E>>,
{
    for i in 0..tries {
        if let Attempt::Done(t) = attempt(i).await? {
            return Ok(t);
        }
    }
    Err(Error::TemporarilyUnavailable(format!("{what} changed concurrently; retry").into()).into())
}
