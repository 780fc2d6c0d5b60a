//! Notifiers: the [`Notifier`] trait and one file per kind (`email.rs`, `webhook.rs`).
//!
//! Each kind's file holds its config struct (whose field names are the `[[notifier]]` keys),
//! its validation and its [`Notifier`] impl. Adding a kind means adding that file and one line
//! to [`KINDS`]. Retries, back-off and "sent exactly once" are the outbox's business, not the
//! notifier's: a notifier makes one attempt and says how it went.

pub mod email;
pub mod webhook;

use super::message::Outgoing;
use crate::keys::{FieldError, KeyError};
use crate::redact::{SecretUrl, Secrets};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// Every kind, by the name written as `kind = "..."` under `[[notifier]]`.
pub static KINDS: &[Kind] = &[
    Kind::of::<email::EmailConfig>(),
    Kind::of::<webhook::WebhookConfig>(),
];

/// One attempt that did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong, free of secrets (the server's answer where it gave one).
    pub message: String,
    /// The receiver refused this message for good (an SMTP 5xx, an HTTP 4xx other than 408
    /// and 429): trying again cannot help.
    pub permanent: bool,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Something that can tell people: an SMTP relay, a webhook.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Makes one attempt to deliver `out`.
    ///
    /// Returns `Ok` only once the receiving server accepted the message (SMTP: `250` after
    /// `DATA`; HTTP: a 2xx), because the outbox marks it sent on `Ok` and never sends it again.
    /// Gives up within the notifier's own `timeout`; may be cancelled at any await point. The
    /// error's message must not contain a secret of the notifier's config.
    async fn send(&self, out: Outgoing<'_>) -> Result<(), SendError>;

    /// Where it sends, as `validate` and the API show it: the URL with its password redacted,
    /// and for email the recipients.
    fn target(&self) -> String;
}

/// What a kind's config struct provides: its kind name and how it becomes a notifier.
pub trait NotifierConfig: DeserializeOwned + 'static {
    /// The `kind` string in `monitor.toml`, the file name, and the label in the API and metrics.
    const KIND: &'static str;

    /// Validates the settings and builds the notifier.
    ///
    /// # Errors
    /// A [`FieldError`] naming the key (relative to the notifier) and what was expected.
    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Notifier>, FieldError>;
}

/// What a kind may use while it is built.
pub struct BuildContext<'a> {
    /// The notifier's name (`[[notifier]] name`, by default its kind).
    pub name: &'a str,
    /// `[service] name`, e.g. for an email's `Message-ID` domain or a `User-Agent`.
    pub service: &'a str,
    secrets: RefCell<Vec<String>>,
}

impl<'a> BuildContext<'a> {
    pub fn new(name: &'a str, service: &'a str) -> Self {
        BuildContext {
            name,
            service,
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// Parses a URL and records its secrets (password, token query values).
    ///
    /// # Errors
    /// A message that shows only the redacted URL.
    pub fn url(&self, raw: &str) -> Result<SecretUrl, String> {
        let url = SecretUrl::parse(raw)?;
        self.secrets
            .borrow_mut()
            .extend(url.secrets().iter().cloned());
        Ok(url)
    }

    /// Records a secret that is not part of a URL (a header value).
    pub fn secret(&self, value: &str) {
        if value.len() >= 3 {
            self.secrets.borrow_mut().push(value.to_string());
        }
    }

    pub fn into_secrets(self) -> Secrets {
        Secrets::new(self.secrets.into_inner())
    }
}

/// Builds a notifier from its kind-specific keys; the `&str` is its key path (`notifier[0]`).
type BuildFn = fn(toml::Table, &BuildContext, &str) -> Result<Arc<dyn Notifier>, KeyError>;

/// A registry entry: a kind's name, its config keys and its constructor.
pub struct Kind {
    pub name: &'static str,
    /// The keys the kind's config struct accepts.
    pub fields: fn() -> &'static [&'static str],
    build: BuildFn,
}

impl Kind {
    const fn of<C: NotifierConfig>() -> Kind {
        Kind {
            name: C::KIND,
            fields: crate::keys::names::<C>,
            build: build_kind::<C>,
        }
    }

    /// Builds a notifier of this kind; `path` is its key path, e.g. `notifier[1]`.
    ///
    /// # Errors
    /// A [`KeyError`] whose key is the full path of the bad value.
    pub fn build(
        &self,
        table: toml::Table,
        ctx: &BuildContext,
        path: &str,
    ) -> Result<Arc<dyn Notifier>, KeyError> {
        (self.build)(table, ctx, path)
    }
}

/// Finds a kind by name.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kind names, for "expected one of" messages.
pub fn kind_names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

fn build_kind<C: NotifierConfig>(
    table: toml::Table,
    ctx: &BuildContext,
    path: &str,
) -> Result<Arc<dyn Notifier>, KeyError> {
    let config: C = crate::keys::deserialize(toml::Value::Table(table), path)?;
    config.build(ctx).map_err(|e| e.at(path))
}
