//! The gate: what happens to one trigger, decided in a fixed order — the global switch, the
//! environment's (else its organization's) override, shadow mode, then the trip evaluator.
//!
//! [`decide`] is a pure function of those inputs, so every combination is tested as a truth
//! table; [`super::Mollifier::gate`] feeds it the live ones.

use trigr_store::Lane;

use super::Mode;

/// What the gate decided for a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Straight to the engine.
    PassThrough(Reason),
    /// Straight to the engine, but counted as one the mollifier would have buffered.
    ShadowLog(Reason),
    /// Into the environment's buffer; the drainer creates the run.
    Mollify(Reason),
}

/// Why the gate decided as it did (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The global switch is off.
    Disabled,
    /// The environment's or organization's override turned it off.
    OverrideOff,
    /// The environment is below its threshold.
    BelowThreshold,
    /// The environment's trigger rate tripped the evaluator.
    Tripped,
    /// The evaluator failed; the trigger went straight to the engine.
    FailOpen,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::OverrideOff => "override_off",
            Reason::BelowThreshold => "below_threshold",
            Reason::Tripped => "tripped",
            Reason::FailOpen => "fail_open",
        }
    }
}

impl Decision {
    pub fn outcome(self) -> &'static str {
        match self {
            Decision::PassThrough(_) => "pass_through",
            Decision::ShadowLog(_) => "shadow_log",
            Decision::Mollify(_) => "mollify",
        }
    }

    pub fn reason(self) -> Reason {
        match self {
            Decision::PassThrough(r) | Decision::ShadowLog(r) | Decision::Mollify(r) => r,
        }
    }
}

/// The evaluator's answer for one trigger: tripped or not, or it could not tell.
pub type Trip = Result<bool, super::trip::TripError>;

/// Decides for one trigger. `trip` is only called when the gate gets that far (the global
/// switch and the override may stop it first), so an environment that is off is not counted.
pub fn decide(global: Mode, override_mode: Option<Mode>, trip: impl FnOnce() -> Trip) -> Decision {
    if global == Mode::Off {
        return Decision::PassThrough(Reason::Disabled);
    }
    let mode = override_mode.unwrap_or(global);
    if mode == Mode::Off {
        return Decision::PassThrough(Reason::OverrideOff);
    }
    match (mode, trip()) {
        (_, Err(_)) => Decision::PassThrough(Reason::FailOpen),
        (_, Ok(false)) => Decision::PassThrough(Reason::BelowThreshold),
        (Mode::Shadow, Ok(true)) => Decision::ShadowLog(Reason::Tripped),
        (Mode::On | Mode::Off, Ok(true)) => Decision::Mollify(Reason::Tripped),
    }
}

/// The store lane of an environment's writes: bulk while its triggers would be buffered —
/// the switch on for it (its override, else the global one, which `Off` ends at once) and
/// tripped. `tripped` is asked before `override_mode`, and neither when the switch is off.
pub fn lane(
    global: Mode,
    tripped: impl FnOnce() -> bool,
    override_mode: impl FnOnce() -> Option<Mode>,
) -> Lane {
    if global == Mode::Off || !tripped() {
        return Lane::Live;
    }
    match override_mode().unwrap_or(global) {
        Mode::On => Lane::Bulk,
        Mode::Off | Mode::Shadow => Lane::Live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mollifier::trip::TripError;

    /// Every combination of switch, override and evaluator answer, with the decision and
    /// whether the evaluator was asked (counted).
    #[test]
    fn truth_table() {
        use Decision::*;
        use Mode::*;
        use Reason::*;
        let overrides = [None, Some(On), Some(Off), Some(Shadow)];
        let trips: [fn() -> Trip; 3] =
            [|| Ok(false), || Ok(true), || Err(TripError("down".into()))];
        for global in [On, Off, Shadow] {
            for ov in overrides {
                for (t, trip) in trips.iter().enumerate() {
                    let mut asked = false;
                    let got = decide(global, ov, || {
                        asked = true;
                        trip()
                    });
                    let mode = ov.unwrap_or(global);
                    let want = match (global, mode, t) {
                        (Off, _, _) => PassThrough(Disabled),
                        (_, Off, _) => PassThrough(OverrideOff),
                        (_, _, 2) => PassThrough(FailOpen),
                        (_, _, 0) => PassThrough(BelowThreshold),
                        (_, Shadow, _) => ShadowLog(Tripped),
                        (_, On, _) => Mollify(Tripped),
                    };
                    assert_eq!(got, want, "switch {global:?}, override {ov:?}, trip #{t}");
                    assert_eq!(asked, global != Off && mode != Off, "{global:?} {ov:?}");
                }
            }
        }
    }

    /// Bulk exactly when the trigger would be buffered; the evaluator is not asked when the
    /// switch is off, nor the override when the environment is not tripped.
    #[test]
    fn lane_is_bulk_only_while_triggers_are_buffered() {
        use std::cell::Cell;
        use Mode::*;
        let overrides = [None, Some(On), Some(Off), Some(Shadow)];
        for global in [On, Off, Shadow] {
            for o in overrides {
                for tripped in [false, true] {
                    let (asked_trip, asked_override) = (Cell::new(false), Cell::new(false));
                    let lane = lane(
                        global,
                        || {
                            asked_trip.set(true);
                            tripped
                        },
                        || {
                            asked_override.set(true);
                            o
                        },
                    );
                    let buffered =
                        matches!(decide(global, o, || Ok(tripped)), Decision::Mollify(_));
                    let case = format!("global {global:?}, override {o:?}, tripped {tripped}");
                    assert_eq!(lane == Lane::Bulk, buffered, "{case}");
                    assert_eq!(asked_trip.get(), global != Off, "{case}");
                    assert_eq!(asked_override.get(), global != Off && tripped, "{case}");
                }
            }
        }
    }
}
