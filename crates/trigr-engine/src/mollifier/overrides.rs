//! Overrides of the mollifier's settings for one environment or one organization, stored
//! (`mollifier_settings`) and kept in memory for the gate, which reads them without I/O. A
//! server reloads them when it changes one and at every drainer tick (changes made through
//! another server of the same database reach it then).

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use trigr_types::Millis;

use super::{Limits, Mode};
use crate::{Engine, Error, Result};

/// What an override changes; an absent field keeps the organization's, else the global value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Triggers per second above which the environment trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// Milliseconds it stays tripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<Millis>,
}

/// Most milliseconds a hold may last (a day).
pub const MAX_HOLD_MS: Millis = 24 * 3600 * 1000;

impl Override {
    /// Refuses an override that cannot work.
    pub fn check(&self) -> Result<()> {
        if self.threshold == Some(0) {
            return Err(Error::invalid(
                "threshold must be at least 1 trigger per second",
            ));
        }
        if self
            .hold_ms
            .is_some_and(|h| !(0..=MAX_HOLD_MS).contains(&h))
        {
            return Err(Error::invalid(format!(
                "holdMs must be between 0 and {MAX_HOLD_MS}"
            )));
        }
        Ok(())
    }

    /// `self`'s fields, else `under`'s.
    fn over(self, under: Override) -> Override {
        Override {
            mode: self.mode.or(under.mode),
            threshold: self.threshold.or(under.threshold),
            hold_ms: self.hold_ms.or(under.hold_ms),
        }
    }

    /// The limits in force under this override.
    pub fn limits(&self, global: Limits) -> Limits {
        Limits {
            threshold: self.threshold.unwrap_or(global.threshold),
            hold_ms: self.hold_ms.unwrap_or(global.hold_ms),
        }
    }
}

/// What an override applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Environment(String),
    Organization(String),
}

impl Scope {
    fn key(&self) -> String {
        match self {
            Scope::Environment(id) => format!("env:{id}"),
            Scope::Organization(id) => format!("org:{id}"),
        }
    }
}

#[derive(Default)]
struct Snapshot {
    env: HashMap<String, Override>,
    org: HashMap<String, Override>,
    env_org: HashMap<String, String>,
}

/// The overrides in memory.
#[derive(Default)]
pub(crate) struct Cache(RwLock<Snapshot>);

impl Cache {
    /// The override in force for an environment (nothing to look up when there is none).
    pub(crate) fn for_env(&self, env_id: &str) -> Override {
        let Ok(s) = self.0.read() else {
            return Override::default();
        };
        if s.env.is_empty() && s.org.is_empty() {
            return Override::default();
        }
        let own = s.env.get(env_id).copied().unwrap_or_default();
        let org = s
            .env_org
            .get(env_id)
            .and_then(|o| s.org.get(o))
            .copied()
            .unwrap_or_default();
        own.over(org)
    }
}

impl Engine {
    /// Reads the stored overrides (and which organization each environment belongs to) into
    /// memory.
    pub async fn load_mollifier_overrides(&self) -> Result<()> {
        let snapshot = self
            .read(|tx| {
                let mut s = Snapshot::default();
                for (scope, text) in tx.mollifier_settings()? {
                    let Ok(o) = serde_json::from_str::<Override>(&text) else {
                        continue;
                    };
                    match scope.split_once(':') {
                        Some(("env", id)) => s.env.insert(id.to_string(), o),
                        Some(("org", id)) => s.org.insert(id.to_string(), o),
                        _ => None,
                    };
                }
                let orgs: HashMap<String, String> = tx
                    .projects()?
                    .into_iter()
                    .map(|p| (p.id, p.org_id))
                    .collect();
                for env in tx.environments()? {
                    if let Some(org) = orgs.get(&env.project_id) {
                        s.env_org.insert(env.id, org.clone());
                    }
                }
                Ok(s)
            })
            .await?;
        if let Ok(mut cache) = self.mollifier().overrides.0.write() {
            *cache = snapshot;
        }
        Ok(())
    }

    /// Stores (or with `None` removes) the override of a scope, then reloads the overrides.
    pub async fn set_mollifier_override(
        &self,
        scope: Scope,
        settings: Option<Override>,
    ) -> Result<()> {
        if let Some(o) = &settings {
            o.check()?;
        }
        let key = scope.key();
        let text = settings.map(|o| serde_json::to_string(&o).expect("an override serializes"));
        self.write(move |tx| {
            let now = tx.now();
            tx.put_mollifier_setting(&key, text.as_deref(), now)?;
            Ok(())
        })
        .await?;
        self.load_mollifier_overrides().await
    }
}
