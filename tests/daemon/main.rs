//! Integration tests: the real daemon, a random port, a temporary database, HTTP.
//! One test binary; each file is an area.

mod alerts_email;
mod alerts_rules;
mod alerts_slo;
mod alerts_webhook;
mod check_command;
mod config_errors;
mod deps_amqp;
mod deps_databases;
mod deps_dns;
mod deps_messaging;
mod deps_redis;
mod deps_smtp;
mod deps_tls;
mod failures;
mod helpers;
mod http_extras;
mod pages;
mod probe_command;
mod probes;
mod push;
mod report;
mod resilience;
mod secrets;
mod services;
mod shutdown;
mod store_faults;
