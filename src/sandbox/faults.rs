//! The sandbox's seeded fault plan: which requests fail, and how.
//!
//! Written as `kind=N` (the first N requests of that kind get the fault) and `kind~P`
//! (after those, each request gets it with probability P, from a seeded generator), joined by
//! commas: `submit_429=2,result_5xx~0.1,seed=7`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A fault the sandbox can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// fal submit answered 429 with `Retry-After`; no job created.
    Submit429,
    /// fal submit answered 503 before creating a job.
    Submit503,
    /// fal submit answered 403 `User is locked. Reason: Exhausted balance` (no job created).
    AccountLocked,
    /// fal submit creates the job, then drops the connection before answering (the ambiguous case).
    SubmitDrop,
    /// fal status answered 500.
    Status5xx,
    /// fal result answered 503 (the job itself is fine; a later fetch works).
    Result5xx,
    /// The status stream closes before COMPLETED.
    StreamDrop,
    /// The status stream is not available (404); clients must poll.
    StreamOff,
    /// A download stops half-way (Content-Length promised more).
    Truncate,
    /// A clip download answers 404 (an expired or not yet propagated CDN link).
    File404,
    /// The platform's request history answers 404 (not available for this account or model).
    HistoryOff,
    /// The job fails: COMPLETED with `error`, and the result is a 503 `runner_disconnected`.
    FailJob,
    /// Eachlabs create answered 429 (no prediction created).
    Each429,
    /// Eachlabs create answered 402 (balance too low).
    Each402,
    /// Eachlabs create makes the prediction, then drops the connection before answering.
    EachDrop,
    /// Eachlabs prediction ends in `error`.
    EachError,
    /// Eachlabs prediction ends in `failed` (the older spelling).
    EachFailed,
}

impl Fault {
    /// Every fault with its name in the plan syntax.
    pub const ALL: &'static [(Fault, &'static str)] = &[
        (Fault::Submit429, "submit_429"),
        (Fault::Submit503, "submit_503"),
        (Fault::SubmitDrop, "submit_drop"),
        (Fault::AccountLocked, "account_locked"),
        (Fault::Status5xx, "status_5xx"),
        (Fault::Result5xx, "result_5xx"),
        (Fault::StreamDrop, "stream_drop"),
        (Fault::StreamOff, "stream_off"),
        (Fault::Truncate, "truncate"),
        (Fault::File404, "file_404"),
        (Fault::HistoryOff, "history_off"),
        (Fault::FailJob, "fail_job"),
        (Fault::Each429, "each_429"),
        (Fault::Each402, "each_402"),
        (Fault::EachDrop, "each_drop"),
        (Fault::EachError, "each_error"),
        (Fault::EachFailed, "each_failed"),
    ];

    /// The name in the plan syntax and in `/__sandbox/stats`.
    pub fn name(self) -> &'static str {
        Fault::ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often a fault happens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rule {
    /// The first `first` requests of the kind always get it.
    pub first: u32,
    /// After those, each request gets it with this probability.
    pub rate: f64,
}

/// The whole fault plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Seed of the generator behind the rates.
    pub seed: u64,
    /// Rules by fault.
    pub rules: BTreeMap<Fault, Rule>,
}

impl FaultPlan {
    /// A plan with one rule: the first `n` requests of the kind get `fault`.
    pub fn first(fault: Fault, n: u32) -> FaultPlan {
        FaultPlan::default().with(fault, n)
    }

    /// Adds a rule: the first `n` requests of the kind get `fault`.
    pub fn with(mut self, fault: Fault, n: u32) -> FaultPlan {
        self.rules.entry(fault).or_default().first = n;
        self
    }
}

impl FromStr for FaultPlan {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value, rate) = match (part.split_once('='), part.split_once('~')) {
                (Some((n, v)), _) => (n.trim(), v.trim(), false),
                (None, Some((n, v))) => (n.trim(), v.trim(), true),
                _ => return Err(format!("`{part}`: write `fault=N` or `fault~P`")),
            };
            if name == "seed" {
                plan.seed = value.parse().map_err(|_| format!("seed `{value}` is not a number"))?;
                continue;
            }
            let fault = Fault::ALL
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(f, _)| *f)
                .ok_or_else(|| {
                    let names: Vec<&str> = Fault::ALL.iter().map(|(_, n)| *n).collect();
                    format!("unknown fault `{name}` (known: {})", names.join(", "))
                })?;
            let rule = plan.rules.entry(fault).or_default();
            if rate {
                rule.rate = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| format!("`{part}`: a probability from 0 to 1"))?;
            } else {
                rule.first = value.parse().map_err(|_| format!("`{part}`: a whole number"))?;
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_rates_and_seed() {
        let p: FaultPlan = "submit_429=2, result_5xx~0.25,seed=7".parse().unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.rules[&Fault::Submit429], Rule { first: 2, rate: 0.0 });
        assert_eq!(p.rules[&Fault::Result5xx], Rule { first: 0, rate: 0.25 });
        assert!("nope=1".parse::<FaultPlan>().unwrap_err().contains("unknown fault"));
        assert!("truncate~2".parse::<FaultPlan>().is_err());
    }
}
