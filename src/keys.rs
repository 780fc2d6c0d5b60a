//! Serde helpers for settings tables: the key names a struct accepts, and deserialization whose
//! errors carry the full key path (`check[2].timeout`).
//!
//! Neutral ground: the config loader and the kinds it builds (checks, notifiers) both use it,
//! so neither has to import the other for it.

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};

/// A bad value at a full key path, such as `check[2].timeout`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A bad value in one key of a kind's own settings, relative to the kind's table (`url`); the
/// caller knows the table's path and joins the two.
#[derive(Debug)]
pub struct FieldError {
    pub key: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(key: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            key,
            message: message.into(),
        }
    }

    /// The same error at its full path under `path`.
    pub fn at(self, path: &str) -> KeyError {
        KeyError::new(join(path, self.key), self.message)
    }
}

/// The field names `T` deserializes, read from serde's own description of the struct.
///
/// Used to tell a typo (an error) from a `[defaults]` key meant for other kinds (ignored).
pub fn names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs can be introspected"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("introspection only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Deserializes `value` into `T`; an error names the full key, e.g. `check[2].timeout`.
///
/// # Errors
/// A [`KeyError`] whose key is `path` joined with the failing field.
pub fn deserialize<T: DeserializeOwned>(value: toml::Value, path: &str) -> Result<T, KeyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        // toml appends "in `key`" on a second line; the key path already says where.
        let message = e
            .inner()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut key = join(path, if inner == "." { "" } else { &inner });
        // serde reports a missing field at its parent; name the field itself.
        let message = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) => {
                key = join(&key, field);
                "is required but missing".to_string()
            }
            None => message,
        };
        KeyError::new(key, message)
    })
}

pub fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (_, true) => base.to_string(),
        (true, false) => rest.to_string(),
        (false, false) if rest.starts_with('[') => format!("{base}{rest}"),
        (false, false) => format!("{base}.{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Sample {
        path: String,
        #[serde(default)]
        warn: Option<f64>,
    }

    #[test]
    fn field_names_come_from_the_struct() {
        assert_eq!(names::<Sample>(), &["path", "warn"]);
    }

    #[test]
    fn errors_name_the_full_key() {
        let value: toml::Value = toml::from_str("path = \"/\"\nwarn = \"high\"").unwrap();
        let err = deserialize::<Sample>(value, "check[3]").unwrap_err();
        assert!(
            err.to_string().starts_with("check[3].warn: invalid type"),
            "{err}"
        );

        let value: toml::Value = toml::from_str("warn = 3.0").unwrap();
        let err = deserialize::<Sample>(value, "check[0]").unwrap_err();
        assert_eq!(err.to_string(), "check[0].path: is required but missing");
    }
}
