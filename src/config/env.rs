//! `${VAR}` and `${VAR:-default}` in config values, read from the environment.
//!
//! Expansion runs on parsed string values, not on the file text, so a commented-out
//! example that names an unset variable is never an error, and the error can name the key.

use super::error::ConfigError;

/// Expands every string in `value`, recording one error per unresolved variable.
pub fn expand_tree(
    value: &mut toml::Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        toml::Value::String(s) => match expand(s, lookup) {
            Ok(expanded) => *s = expanded,
            Err(message) => errors.push(ConfigError::invalid(path, message)),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                expand_tree(item, &child, lookup, errors);
            }
        }
        _ => {}
    }
}

/// Expands `${VAR}` and `${VAR:-default}` in one string; `$${` stands for a literal `${`.
///
/// # Errors
/// Names the variable when it is unset and has no default, or when `${` is not closed.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in `{input}`"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "expected an environment variable name of letters, digits and _ in `${{{expr}}}`"
                ));
            }
            match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PG_PASSWORD" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn set_variables_and_defaults_are_substituted() {
        assert_eq!(
            expand("postgres://app:${PG_PASSWORD}@db/app", &env).unwrap(),
            "postgres://app:s3cret@db/app"
        );
        assert_eq!(expand("${MISSING:-8080}", &env).unwrap(), "8080");
        assert_eq!(expand("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${EMPTY}", &env).unwrap(), "");
        assert_eq!(
            expand("price $5 and $${LITERAL}", &env).unwrap(),
            "price $5 and ${LITERAL}"
        );
    }

    #[test]
    fn an_unset_variable_without_default_is_named_in_the_error() {
        let err = expand("x${NOPE}y", &env).unwrap_err();
        assert!(err.contains("NOPE is not set"), "{err}");
        assert!(expand("${UNCLOSED", &env).unwrap_err().contains("closing"));
        assert!(expand("${bad name}", &env).is_err());
    }

    #[test]
    fn errors_in_a_tree_carry_the_key_path() {
        let mut value: toml::Value =
            toml::from_str("[[check]]\nname = \"a\"\n[[check]]\nurl = \"${NOPE}\"\n").unwrap();
        let mut errors = Vec::new();
        expand_tree(&mut value, "", &env, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().starts_with("check[1].url:"),
            "{}",
            errors[0]
        );
    }
}
