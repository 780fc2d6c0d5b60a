//! `dns`: resolve a name of a type (A, AAAA, MX, TXT, CNAME, NS) through the resolver in the URL
//! (`dns://10.0.0.2:53/example.com?type=MX`) or the system's (`dns:///example.com`), optionally
//! requiring one answer to equal `expect`. Every probe asks afresh: no answer cache.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::Resolver;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
pub struct DnsConfig {
    /// `dns://resolver[:port]/name?type=A`; an empty resolver (`dns:///name`) uses the system's.
    pub url: String,
    /// An answer that must be among the records (an address, a name, or TXT text).
    pub expect: Option<String>,
}

const TYPES: &[(&str, RecordType)] = &[
    ("A", RecordType::A),
    ("AAAA", RecordType::AAAA),
    ("MX", RecordType::MX),
    ("TXT", RecordType::TXT),
    ("CNAME", RecordType::CNAME),
    ("NS", RecordType::NS),
];

impl CheckConfig for DnsConfig {
    const KIND: &'static str = "dns";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        let u = url.expose();
        if u.scheme() != "dns" {
            return Err(FieldError::new(
                "url",
                format!("expected dns://resolver/name?type=A, got `{url}`"),
            ));
        }
        let server = match u.host_str().filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => {
                let ip: IpAddr = h.trim_matches(['[', ']']).parse().map_err(|_| {
                    FieldError::new(
                        "url",
                        format!("expected the resolver as an IP address, got `{h}`"),
                    )
                })?;
                Some(SocketAddr::new(ip, u.port().unwrap_or(53)))
            }
        };
        let name = u.path().trim_start_matches('/').to_string();
        if name.is_empty() {
            return Err(FieldError::new(
                "url",
                format!("expected a name to resolve after the resolver, got `{url}`"),
            ));
        }
        let wanted = u
            .query_pairs()
            .find(|(k, _)| k == "type")
            .map_or("A".to_string(), |(_, v)| v.to_ascii_uppercase());
        let Some(&(_, record_type)) = TYPES.iter().find(|(t, _)| *t == wanted) else {
            let names: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
            return Err(FieldError::new(
                "url",
                format!("expected type= one of {}, got `{wanted}`", names.join(", ")),
            ));
        };
        Ok(Arc::new(DnsCheck {
            url,
            server,
            name,
            record_type,
            expect: self.expect,
            timeout: ctx.timeout,
        }))
    }
}

#[derive(Debug)]
pub struct DnsCheck {
    url: SecretUrl,
    server: Option<SocketAddr>,
    name: String,
    record_type: RecordType,
    expect: Option<String>,
    timeout: Duration,
}

fn text(data: &RData) -> String {
    let name = |n: &dyn std::fmt::Display| n.to_string().trim_end_matches('.').to_string();
    match data {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::MX(mx) => format!("{} {}", mx.preference, name(&mx.exchange)),
        RData::CNAME(c) => name(&c.0),
        RData::NS(ns) => name(&ns.0),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

impl DnsCheck {
    fn resolver(&self) -> Result<Resolver<TokioRuntimeProvider>, String> {
        let mut builder = match self.server {
            None => Resolver::builder_tokio()
                .map_err(|e| format!("cannot read the system's resolver configuration: {e}"))?,
            Some(addr) => {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut c| {
                        c.port = addr.port();
                        c
                    })
                    .collect();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    addr.ip(),
                    true,
                    connections,
                )]);
                Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            }
        };
        let opts = builder.options_mut();
        opts.timeout = self.timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        builder
            .build()
            .map_err(|e| format!("cannot set up the resolver: {e}"))
    }
}

#[async_trait]
impl Check for DnsCheck {
    async fn probe(&self) -> Outcome {
        let resolver = match self.resolver() {
            Ok(r) => r,
            Err(e) => return Outcome::unhealthy(e),
        };
        let via = self
            .server
            .map_or("the system resolver".to_string(), |s| s.to_string());
        let lookup = match resolver.lookup(self.name.as_str(), self.record_type).await {
            Ok(l) => l,
            Err(e) => {
                return Outcome::unhealthy(format!(
                    "{} {} via {via}: {e}",
                    self.record_type, self.name
                ))
            }
        };
        let records: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == self.record_type)
            .map(|r| text(&r.data))
            .collect();
        if records.is_empty() {
            return Outcome::unhealthy(format!(
                "no {} record for {} via {via}",
                self.record_type, self.name
            ));
        }
        let mut outcome = Outcome::healthy()
            .with_message(format!(
                "{} {} → {}",
                self.record_type,
                self.name,
                records.join(", ")
            ))
            .observe("records", records.clone())
            .observe("count", records.len());
        if let Some(expected) = &self.expect {
            let matches = records.iter().any(|r| {
                r == expected || r.split_once(' ').is_some_and(|(_, host)| host == expected)
            });
            if !matches {
                outcome.status = super::Status::Unhealthy;
                outcome.message = Some(format!(
                    "{} {} → {}; expected {expected}",
                    self.record_type,
                    self.name,
                    records.join(", ")
                ));
            }
        }
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }
}
