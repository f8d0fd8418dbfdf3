//! The single integration test crate: behaviour tests that run the real binary
//! (hermetic environment: no real keys, base URLs pointed at loopback).

mod cases;
mod common;
