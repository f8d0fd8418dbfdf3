//! Which hosted API runs the models.

use serde::Serialize;
use std::fmt;

/// A hosted API that runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderKind {
    /// fal.ai queue API.
    Fal,
    /// Eachlabs prediction API.
    Eachlabs,
}

impl ProviderKind {
    /// The provider named in a storyboard or on the command line.
    pub(crate) fn parse(name: &str) -> Option<ProviderKind> {
        match name {
            "fal" => Some(ProviderKind::Fal),
            "eachlabs" => Some(ProviderKind::Eachlabs),
            _ => None,
        }
    }

    /// The name users write.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProviderKind::Fal => "fal",
            ProviderKind::Eachlabs => "eachlabs",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
