//! `spin:variables`: application variables, component templates and their providers.
//!
//! Values come, in order, from the environment (`SPIN_VARIABLE_NAME`, as Spin reads it), then
//! the variable's `default`. A `required` variable without a value stops start-up; a `secret`
//! one left to its manifest default is logged as a warning, since a deployment must set it.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use wasmtime::component::Accessor;

use super::{Spin, SpinView};
use crate::bindings::variables::{self, Error};
use crate::manifest::VariableDecl;

/// The names a template such as `"{{ host }}:{{ port }}"` refers to.
pub fn template_references(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{template}`"))?;
        let name = after[..end].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
        {
            return Err(format!("`{name}` in `{template}` is not a variable name"));
        }
        names.push(name.to_string());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// Expands the `{{ name }}` references of a template; references were checked at load.
pub fn expand(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Some(value) = values.get(after[..end].trim()) {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Resolves every application variable from the environment and defaults.
pub fn resolve(
    decls: &BTreeMap<String, VariableDecl>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (name, decl) in decls {
        let key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        let from_env = env(&key);
        if from_env.is_none() && decl.secret && decl.default.is_some() {
            tracing::warn!(
                variable = %name,
                "secret variable takes its default from the manifest; set {key} outside development"
            );
        }
        match from_env.or_else(|| decl.default.clone()) {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None if decl.required => {
                bail!("variable `{name}` is required: set {key} in the environment")
            }
            None => {}
        }
    }
    Ok(values)
}

impl variables::Host for SpinView<'_> {}

impl<T> variables::HostWithStore<T> for Spin {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Ok(Err(Error::InvalidName(name)));
        }
        let value =
            accessor.with(|mut access| access.get().ctx.grants.variables.get(&name).cloned());
        Ok(value.ok_or(Error::Undefined(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_references() {
        let values = BTreeMap::from([("host".to_string(), "db".to_string())]);
        assert_eq!(
            template_references("{{host}}:{{ port }}"),
            Ok(vec!["host".into(), "port".into()])
        );
        assert_eq!(
            expand("postgres://{{ host }}/x", &values),
            "postgres://db/x"
        );
        assert!(template_references("{{ Bad }}").is_err());
    }

    #[test]
    fn environment_overrides_default_and_required_must_be_set() {
        let decls = BTreeMap::from([
            (
                "greeting".to_string(),
                VariableDecl {
                    default: Some("hi".into()),
                    ..Default::default()
                },
            ),
            (
                "token".to_string(),
                VariableDecl {
                    required: true,
                    ..Default::default()
                },
            ),
        ]);
        let missing = resolve(&decls, |_| None).err().map(|e| e.to_string());
        assert_eq!(
            missing.as_deref(),
            Some("variable `token` is required: set SPIN_VARIABLE_TOKEN in the environment")
        );
        let values = resolve(&decls, |k| {
            (k == "SPIN_VARIABLE_TOKEN").then(|| "t".to_string())
        });
        assert_eq!(
            values.ok().map(|v| v["greeting"].clone() + &v["token"]),
            Some("hit".into())
        );
    }
}
