//! Every path into the `storyboard` library the tests use, named once: when a module moves,
//! the fix is here and nowhere else.

pub use storyboard::probe_duration;
pub use storyboard::sandbox::{Fault, FaultPlan, Sandbox, SandboxConfig};
pub use storyboard::sha256_hex;
pub use storyboard::store::{Moto, open_with as open_store};
