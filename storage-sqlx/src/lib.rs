//! SQL storage backend for Latchkey (see issue: SQL backend).
#![forbid(unsafe_code)]
