//! redb storage backend for Latchkey (see issue: embedded default).
#![forbid(unsafe_code)]
