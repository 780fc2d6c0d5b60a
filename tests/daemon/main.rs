//! Integration tests: the real daemon, a random port, a temporary database, HTTP.
//! One test binary; each file is an area.

mod check_command;
mod config_errors;
mod helpers;
mod probes;
mod resilience;
mod shutdown;
