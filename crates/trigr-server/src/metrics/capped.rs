//! A metric family whose label sets come from user input (task ids), held to a number of
//! label sets: once it holds [`Capped::cap`] of them, a new one is counted under its overflow
//! label set instead (`task="_other"`), so a flood of task ids cannot grow the scrape or the
//! server's memory without bound.

use std::hash::Hash;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::TypedMetric;

/// A [`Family`] of at most `cap` label sets, plus their overflow sets.
pub(crate) struct Capped<S, M, C = fn() -> M> {
    family: Family<S, M, C>,
    cap: usize,
    /// Label sets added (overflow sets aside); taken only to add one, so that two new ones
    /// cannot both pass the cap check.
    grow: Mutex<usize>,
}

impl<S, M, C> Capped<S, M, C>
where
    S: Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: TypedMetric + Send + Sync + 'static,
    C: MetricConstructor<M> + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(family: Family<S, M, C>, cap: usize) -> Self {
        Capped {
            family,
            cap,
            grow: Mutex::new(0),
        }
    }

    /// The family, to register it (it is shared: a clone sees the same metrics).
    pub(crate) fn family(&self) -> Family<S, M, C> {
        self.family.clone()
    }

    /// Calls `f` with the metric of `labels`, or, when the family is full and `labels` is
    /// new, with the metric of `overflow(labels)`.
    pub(crate) fn with(&self, labels: S, overflow: impl FnOnce(S) -> S, f: impl FnOnce(&M)) {
        if let Some(metric) = self.family.get(&labels) {
            return f(&metric);
        }
        let mut added = self.grow.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(metric) = self.family.get(&labels) {
            return f(&metric);
        }
        let labels = if *added < self.cap {
            *added += 1;
            labels
        } else {
            overflow(labels)
        };
        f(&self.family.get_or_create(&labels));
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Task {
        task: String,
    }

    fn other(_: Task) -> Task {
        Task {
            task: "_other".into(),
        }
    }

    #[test]
    fn new_label_sets_past_the_cap_overflow() {
        let capped: Capped<Task, Counter> = Capped::new(Family::default(), 2);
        for name in ["a", "b", "c", "a", "d", "b"] {
            capped.with(Task { task: name.into() }, other, |c| {
                c.inc();
            });
        }
        let family = capped.family();
        let count = |name: &str| family.get(&Task { task: name.into() }).map(|c| c.get());
        assert_eq!(count("a"), Some(2));
        assert_eq!(count("b"), Some(2));
        assert_eq!(count("c"), None);
        assert_eq!(count("d"), None);
        assert_eq!(count("_other"), Some(2));
        assert_eq!(*capped.grow.lock().unwrap(), 2);
    }
}
