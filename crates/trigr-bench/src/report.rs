//! The figures the benchmark reports, the table and the one-line JSON report.
//!
//! To add a figure: declare a [`Figure`], add a field of the same name to [`Report`] and a line
//! in [`Report::set`], and return the figure from a scenario.

use serde::Serialize;

use crate::stats::{fmt_num, median, round_to};

/// A reported quantity: its JSON key, its table label and unit, and how many decimals it keeps.
#[derive(Debug, PartialEq)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub decimals: usize,
}

pub const TRIGGER_PER_S: Figure = Figure {
    key: "trigger_per_s",
    label: "trigger (1 run/request, 32c)",
    unit: "runs/s",
    decimals: 0,
};

pub const BATCH_TRIGGER_PER_S: Figure = Figure {
    key: "batch_trigger_per_s",
    label: "batch trigger (500/batch, 4c)",
    unit: "runs/s",
    decimals: 0,
};

pub const E2E_RUNS_PER_S: Figure = Figure {
    key: "e2e_runs_per_s",
    label: "end-to-end (batch in, 4 workers)",
    unit: "runs/s",
    decimals: 0,
};

pub const TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "trigger_to_dequeue_p50_ms",
    label: "trigger->dequeue p50 (50/s)",
    unit: "ms",
    decimals: 2,
};

pub const TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "trigger_to_dequeue_p99_ms",
    label: "trigger->dequeue p99 (50/s)",
    unit: "ms",
    decimals: 2,
};

pub const DISK_FSYNC_P50_MS: Figure = Figure {
    key: "disk_fsync_p50_ms",
    label: "disk fsync p50 (context)",
    unit: "ms",
    decimals: 2,
};

pub const DISK_FSYNC_P99_MS: Figure = Figure {
    key: "disk_fsync_p99_ms",
    label: "disk fsync p99 (context)",
    unit: "ms",
    decimals: 2,
};

/// The values one figure took over the repeated runs of its scenario.
#[derive(Debug)]
pub struct Measured {
    pub figure: &'static Figure,
    pub values: Vec<f64>,
}

impl Measured {
    /// The reported value: the median over the runs, rounded to the figure's decimals.
    pub fn value(&self) -> f64 {
        round_to(median(&self.values), self.figure.decimals)
    }
}

/// The reported figures (medians), serialized as one JSON object. Figures of scenarios that were
/// not run are left out.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_trigger_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_runs_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_to_dequeue_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_to_dequeue_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_fsync_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_fsync_p99_ms: Option<f64>,
}

impl Report {
    /// The report of the medians of `measured`.
    pub fn from_measured(measured: &[Measured]) -> Report {
        let mut report = Report::default();
        for m in measured {
            report.set(m.figure, m.value());
        }
        report
    }

    fn set(&mut self, figure: &Figure, value: f64) {
        let slot = match figure.key {
            "trigger_per_s" => &mut self.trigger_per_s,
            "batch_trigger_per_s" => &mut self.batch_trigger_per_s,
            "e2e_runs_per_s" => &mut self.e2e_runs_per_s,
            "trigger_to_dequeue_p50_ms" => &mut self.trigger_to_dequeue_p50_ms,
            "trigger_to_dequeue_p99_ms" => &mut self.trigger_to_dequeue_p99_ms,
            "disk_fsync_p50_ms" => &mut self.disk_fsync_p50_ms,
            "disk_fsync_p99_ms" => &mut self.disk_fsync_p99_ms,
            other => unreachable!("figure {other} has no field in Report"),
        };
        *slot = Some(value);
    }

    /// The report as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

/// The table of `measured`: one line per figure with its median; with more than one run per
/// scenario, a last column lists every run's value in order.
pub fn table(measured: &[Measured]) -> String {
    let repeated = measured.iter().any(|m| m.values.len() > 1);
    let mut out = format!("{:<34} {:<12} {:<8}", "scenario", "value", "unit");
    if repeated {
        out.push_str(" each run");
    }
    let mut lines = vec![out.trim_end().to_string()];
    for m in measured {
        let mut line = format!(
            "{:<34} {:<12} {:<8}",
            m.figure.label,
            fmt_num(m.value(), m.figure.decimals),
            m.figure.unit
        );
        if repeated {
            let each: Vec<String> = m
                .values
                .iter()
                .map(|v| fmt_num(*v, m.figure.decimals))
                .collect();
            line.push(' ');
            line.push_str(&each.join(" / "));
        }
        lines.push(line.trim_end().to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_key_of_the_figures_run() {
        let measured = vec![
            Measured {
                figure: &TRIGGER_PER_S,
                values: vec![100.4, 300.0, 200.0],
            },
            Measured {
                figure: &TRIGGER_TO_DEQUEUE_P50_MS,
                values: vec![1.234],
            },
        ];
        let json: serde_json::Value =
            serde_json::from_str(&Report::from_measured(&measured).to_json_line()).unwrap();
        assert_eq!(json["trigger_per_s"], 200.0);
        assert_eq!(json["trigger_to_dequeue_p50_ms"], 1.23);
        assert!(json.get("batch_trigger_per_s").is_none());
    }

    #[test]
    fn every_figure_has_a_field() {
        let mut report = Report::default();
        for f in [
            &TRIGGER_PER_S,
            &BATCH_TRIGGER_PER_S,
            &E2E_RUNS_PER_S,
            &TRIGGER_TO_DEQUEUE_P50_MS,
            &TRIGGER_TO_DEQUEUE_P99_MS,
        ] {
            report.set(f, 1.0);
        }
        let json: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 5);
    }

    #[test]
    fn table_lists_each_run_when_repeated() {
        let measured = vec![Measured {
            figure: &TRIGGER_PER_S,
            values: vec![7812.0, 7650.0, 7900.0],
        }];
        let t = table(&measured);
        assert!(t.contains("7,812"));
        assert!(t.contains("7,812 / 7,650 / 7,900"));
    }
}
