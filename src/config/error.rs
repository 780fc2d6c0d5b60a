//! Config errors: each names the key (`check[2].timeout`) or the line, and what was expected.

use std::fmt;
use std::path::PathBuf;

/// One problem found in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    /// The file is not valid TOML; the message carries line and column.
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key holds a value that is not what was expected.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl From<crate::keys::KeyError> for ConfigError {
    fn from(e: crate::keys::KeyError) -> Self {
        ConfigError::Invalid {
            key: e.key,
            message: e.message,
        }
    }
}

/// Every problem found in one pass, so a user fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid config: {one}"),
            many => {
                write!(f, "invalid config ({} problems):", many.len())?;
                for e in many {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
