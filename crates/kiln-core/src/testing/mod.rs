//! Conformance suites, one per plugin family (feature `testing`).
//!
//! Each `check_*` function builds the plugin through a closure (so it can be built again
//! with the same or another seed), exercises the contract written on the family's trait and
//! panics with a message saying which clause failed. Run them from a plugin's tests:
//!
//! ```ignore
//! #[test]
//! fn conforms() {
//!     kiln_core::testing::check_search_strategy(|seed| Box::new(MySearch::new(seed)));
//! }
//! ```
mod augment;
mod dataset;
mod ensemble;
mod model;
mod prune;
mod schedule;
mod search;
mod stage;

pub use augment::{check_augmenter, check_host_path, check_label_mixing};
pub use dataset::check_dataset;
pub use ensemble::check_ensembler;
pub use model::check_model;
pub use prune::check_pruner;
pub use schedule::check_scheduler;
pub use search::{check_search_strategy, mixed_space};
pub use stage::{Repeatability, check_stage};

use crate::{BuildContext, PluginSpec, Registry};

/// Builds `spec` of `family` from `registry` for the suites, with `seed`.
pub fn context(seed: u64) -> BuildContext {
    BuildContext::new(seed).with_key("test")
}

/// A spec from a JSON object with `kind`.
pub fn spec(value: serde_json::Value) -> PluginSpec {
    PluginSpec::from_value(&value, "test").expect("a spec with `kind`")
}

/// The registry of the given registration function alone.
pub fn registry_of(register: fn(&mut crate::Registrar<'_>) -> crate::Result<()>) -> Registry {
    Registry::of("test", register).expect("plugins register without error")
}
