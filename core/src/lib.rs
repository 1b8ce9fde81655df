//! # Latchkey
//!
//! An embeddable OAuth 2.1 authorization-server engine.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod entropy;
pub mod error;
pub mod model;
pub mod scope;
pub mod storage;
pub mod token;

#[cfg(any(feature = "conformance", test))]
pub mod conformance;

pub use error::{Error, Result};
