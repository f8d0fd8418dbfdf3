//! The money rules of a render, decided once: the budget (`--max-cost`, else the storyboard's
//! `budget_usd:`), whether it is enforced (`--ignore-budget`), whether unpriced shots pass
//! (`--allow-unpriced`), whether a key is needed and whether to ask before paying (`--yes`).
//! The sandbox rehearses the budget: what a paid render would refuse, it refuses.

use crate::facts::cost::{Estimate, Micros, Refusal};

/// The money rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Money {
    /// The budget.
    pub budget: Option<Micros>,
    /// The budget is checked (no `--ignore-budget`).
    pub enforce: bool,
    /// Unpriced shots pass the budget check.
    pub allow_unpriced: bool,
    /// A paid render (not the sandbox).
    pub paid: bool,
    /// Ask before paying (a paid render without `--yes`).
    pub ask: bool,
}

impl Money {
    /// The budget check of `estimate` (a rehearsed refusal under the sandbox).
    pub(crate) fn check(&self, estimate: &Estimate) -> Result<(), Refusal> {
        if !self.enforce {
            return Ok(());
        }
        estimate
            .check_budget(self.budget, self.allow_unpriced)
            .map_err(|r| if self.paid { r } else { Refusal::Rehearsed(Box::new(r)) })
    }

    /// Whether the provider's key is needed: a paid render that submits or follows anything.
    pub(crate) fn needs_key(&self, estimate: &Estimate, resumed: usize) -> bool {
        self.paid && (estimate.submits() || resumed > 0)
    }

    /// Whether to ask for confirmation before submitting `estimate`.
    pub(crate) fn asks(&self, estimate: &Estimate) -> bool {
        self.ask && estimate.submits()
    }
}
