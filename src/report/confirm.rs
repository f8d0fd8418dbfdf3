//! The paid-render confirmation: asked on the terminal, or answered by a budget that covers
//! the estimate when there is no terminal.

use std::io::{BufRead, IsTerminal, Write};

use crate::facts::catalog::ProviderKind;
use crate::facts::cost::{Estimate, Micros, Refusal};

/// Asks "Render N shots for $X on fal? [y/N]" on a terminal; without one, a budget that covers
/// the whole estimate stands in for the answer.
pub(crate) fn confirm(provider: ProviderKind, estimate: &Estimate, budget: Option<Micros>) -> Result<(), Refusal> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return if estimate.covered_by(budget) {
            Ok(())
        } else {
            Err(Refusal::NoTerminal { spend: estimate.spend })
        };
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "Render {} for {}{} on {provider}? [y/N] ",
        estimate.requests(),
        estimate.spend,
        unpriced_suffix(estimate.unpriced),
    );
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Refusal::Declined)
    }
}

/// ` + N unpriced`, or nothing.
pub(crate) fn unpriced_suffix(unpriced: usize) -> String {
    if unpriced > 0 {
        format!(" + {unpriced} unpriced")
    } else {
        String::new()
    }
}
