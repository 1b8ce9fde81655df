//! The core storage contract suite against PostgreSQL, one fresh database
//! per case.
#![cfg(feature = "postgres")]

mod common;

latchkey::conformance_tests!(|| common::pg::fresh());
