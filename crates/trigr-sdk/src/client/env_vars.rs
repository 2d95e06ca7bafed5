//! Environment variables (`/api/v1/projects/{ref}/envvars/{slug}/…`, Trigger.dev's
//! `envvars` routes): named string values of an environment that its tasks read through their
//! context ([`Context::env_var`](crate::Context::env_var)). The server keeps them encrypted.
//!
//! Every call names the project reference (`proj_…`) and the environment slug (`dev`, `stg`
//! or `staging`, `prod`), which must be those of the client's secret key (a 400 otherwise).
//! A secret variable's value reads as `<redacted>` in [`EnvVars::list`] and
//! [`EnvVars::retrieve`]; tasks read every value.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use std::collections::BTreeMap;
//! let vars = client.env_vars();
//! vars.create("proj_abc", "dev", "API_URL", "https://api.example.com", false).await?;
//! vars.update("proj_abc", "dev", "API_URL", "https://api.example.com/v2").await?;
//! let all = vars.list("proj_abc", "dev").await?;
//! let imported = BTreeMap::from([("REGION".to_string(), "eu".to_string())]);
//! vars.import("proj_abc", "dev", &imported, true, false).await?;
//! vars.delete("proj_abc", "dev", "REGION").await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use reqwest::Method;
use trigr_types::wire::env_vars as wire;

pub use wire::EnvVarValue as EnvVar;

use crate::error::Result;
use crate::http::{encode, Http, Tries};

/// The environment variable API of one client ([`Client::env_vars`](crate::Client::env_vars)).
#[derive(Clone, Debug)]
pub struct EnvVars {
    pub(crate) http: Http,
}

fn base(project_ref: &str, slug: &str) -> String {
    format!(
        "/api/v1/projects/{}/envvars/{}",
        encode(project_ref),
        encode(slug)
    )
}

fn one(project_ref: &str, slug: &str, name: &str) -> String {
    format!("{}/{}", base(project_ref, slug), encode(name))
}

fn body<T: serde::Serialize>(b: &T) -> serde_json::Value {
    serde_json::to_value(b).expect("the body always serializes")
}

impl EnvVars {
    /// Every variable of the environment, by name (secret values redacted).
    pub async fn list(&self, project_ref: &str, slug: &str) -> Result<Vec<EnvVar>> {
        let path = base(project_ref, slug);
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// Creates a variable: a conflict error when one has the name.
    pub async fn create(
        &self,
        project_ref: &str,
        slug: &str,
        name: &str,
        value: &str,
        is_secret: bool,
    ) -> Result<()> {
        let b = body(&wire::EnvVarCreateBody {
            name: name.to_string(),
            value: value.to_string(),
            is_secret: Some(is_secret),
        });
        let path = base(project_ref, slug);
        let _: wire::EnvVarSuccess = self
            .http
            .call(Method::POST, &path, Some(&b), Tries::Once)
            .await?;
        Ok(())
    }

    /// The variable `name` (its value redacted if secret).
    pub async fn retrieve(&self, project_ref: &str, slug: &str, name: &str) -> Result<EnvVar> {
        let path = one(project_ref, slug, name);
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// Gives the variable `name` a new value (its secrecy kept): a not-found error when there
    /// is none.
    pub async fn update(
        &self,
        project_ref: &str,
        slug: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        let b = body(&wire::EnvVarUpdateBody {
            value: value.to_string(),
        });
        let path = one(project_ref, slug, name);
        let _: wire::EnvVarSuccess = self
            .http
            .call(Method::PUT, &path, Some(&b), Tries::Transient)
            .await?;
        Ok(())
    }

    /// Deletes the variable `name`: a not-found error when there is none.
    pub async fn delete(&self, project_ref: &str, slug: &str, name: &str) -> Result<()> {
        let path = one(project_ref, slug, name);
        let _: wire::EnvVarSuccess = self
            .http
            .call(Method::DELETE, &path, None, Tries::Once)
            .await?;
        Ok(())
    }

    /// Writes many variables at once, all or none: existing ones take the new values when
    /// `override_existing`, else keep theirs; every one is marked secret when `is_secret`.
    pub async fn import(
        &self,
        project_ref: &str,
        slug: &str,
        variables: &BTreeMap<String, String>,
        override_existing: bool,
        is_secret: bool,
    ) -> Result<()> {
        let b = body(&wire::EnvVarImportBody {
            variables: variables.clone(),
            override_existing: Some(override_existing),
            is_secret: Some(is_secret),
            parent_variables: None,
            source: None,
        });
        let path = format!("{}/import", base(project_ref, slug));
        let _: wire::EnvVarSuccess = self
            .http
            .call(Method::POST, &path, Some(&b), Tries::Transient)
            .await?;
        Ok(())
    }

    /// Every variable of the client's environment with its value, secret ones included: what
    /// tasks read (`GET /api/v1/worker/env-vars`).
    pub async fn values(&self) -> Result<BTreeMap<String, String>> {
        let got: wire::EnvVarValues = self
            .http
            .call(
                Method::GET,
                "/api/v1/worker/env-vars",
                None,
                Tries::Transient,
            )
            .await?;
        Ok(got.variables)
    }
}

/// Reads a `.env` file's text: `NAME=value` lines, `export NAME=value` too; blank lines and
/// `#` comments skipped; a value in single or double quotes loses them (`\n` in double quotes
/// is a line break). A line that is none of these is an error naming it.
pub fn parse_dotenv(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected NAME=value", i + 1));
        };
        vars.insert(name.trim().to_string(), unquote(value.trim()));
    }
    Ok(vars)
}

fn unquote(value: &str) -> String {
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('"') {
        value[1..value.len() - 1]
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
    } else if quoted('\'') {
        value[1..value.len() - 1].to_string()
    } else {
        // An unquoted value ends at a ` #` comment.
        value
            .split(" #")
            .next()
            .unwrap_or("")
            .trim_end()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let text =
            "# comment\nA=1\nexport B = two \nC=\"line\\nbreak\"\nD='# kept'\nE=x # note\n\nF=\n";
        let vars = parse_dotenv(text).unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "line\nbreak");
        assert_eq!(vars["D"], "# kept");
        assert_eq!(vars["E"], "x");
        assert_eq!(vars["F"], "");
        assert!(parse_dotenv("JUSTTEXT").unwrap_err().contains("line 1"));
    }
}
