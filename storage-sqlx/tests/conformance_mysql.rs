//! The core storage contract suite against MySQL/MariaDB, one fresh
//! database per case.
#![cfg(feature = "mysql")]

mod common;

latchkey::conformance_tests!(|| common::my::fresh());
