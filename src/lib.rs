//! klag: how far behind are my Kafka consumers?
//!
//! The binary in `main.rs` parses the command line (`cli`) into an immutable
//! [`config::Config`]; everything below it never sees clap.

// No panics on external data (issue 7): besides unwrap/expect (Cargo.toml),
// no panic!/unreachable!/todo!/unimplemented! outside tests. Overflow and
// indexing are checked at run time by the fuzz targets in fuzz/.
#![cfg_attr(not(test), warn(clippy::panic, clippy::unreachable, clippy::todo, clippy::unimplemented))]

pub mod brokers_zk;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod demo;
pub mod ensembles;
pub mod exit;
pub mod fasthash;
pub mod judge;
pub mod kafka;
pub mod lag;
pub mod listing;
pub mod lockfile;
pub mod output;
pub mod run;
pub mod sinks;
pub mod sources;
pub mod state;
pub mod time_lag;
pub mod trend;
pub mod watch;
pub mod zk;
