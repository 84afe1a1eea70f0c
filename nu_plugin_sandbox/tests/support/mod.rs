//! Shared by the plugin's test files: per-test isolation of sandbox sessions, and a
//! runner for the real `nu` binary.

#![allow(dead_code)] // each test file uses part of it

pub mod isolation;
pub mod nu_runner;
