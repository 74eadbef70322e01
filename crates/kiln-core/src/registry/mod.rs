//! The plugin registry: (family, name) → factory.
//!
//! Plugins register through a [`Registrar`], a `&mut` API that static plugins reach through
//! `inventory` ([`submit_plugin!`](crate::submit_plugin)) and dynamic plugins through their
//! exported entry point. Configs name plugins as `{ kind = "name", ...params }`
//! ([`PluginSpec`]); the registry resolves them. No global type registry is involved, so a
//! plugin from a shared library resolves exactly like a built-in one.

mod spec;

pub use spec::{BuildContext, PluginSpec};

use crate::{
    Augmenter, DatasetSource, Ensembler, Error, Family, ModelFactory, Pruner, Result, Scheduler,
    SearchStrategy, Stage,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A factory: the plugin's parameters (JSON) and the build context in, the object out.
pub type Factory<T> =
    Arc<dyn Fn(&serde_json::Value, &BuildContext) -> Result<Box<T>> + Send + Sync>;

/// A factory of any family.
#[derive(Clone)]
pub enum AnyFactory {
    /// Builds a [`DatasetSource`].
    Dataset(Factory<dyn DatasetSource>),
    /// Builds an [`Augmenter`].
    Augmenter(Factory<dyn Augmenter>),
    /// Builds a [`ModelFactory`].
    Model(Factory<dyn ModelFactory>),
    /// Builds a [`Scheduler`].
    Scheduler(Factory<dyn Scheduler>),
    /// Builds a [`SearchStrategy`].
    Search(Factory<dyn SearchStrategy>),
    /// Builds a [`Pruner`].
    Pruner(Factory<dyn Pruner>),
    /// Builds an [`Ensembler`].
    Ensembler(Factory<dyn Ensembler>),
    /// Builds a [`Stage`].
    Stage(Factory<dyn Stage>),
}

impl AnyFactory {
    /// The family this factory builds.
    pub fn family(&self) -> Family {
        match self {
            AnyFactory::Dataset(_) => Family::Dataset,
            AnyFactory::Augmenter(_) => Family::Augmenter,
            AnyFactory::Model(_) => Family::Model,
            AnyFactory::Scheduler(_) => Family::Scheduler,
            AnyFactory::Search(_) => Family::Search,
            AnyFactory::Pruner(_) => Family::Pruner,
            AnyFactory::Ensembler(_) => Family::Ensembler,
            AnyFactory::Stage(_) => Family::Stage,
        }
    }
}

/// One registered plugin.
#[derive(Clone)]
pub struct Entry {
    /// Its family.
    pub family: Family,
    /// Its name, as configs write it in `kind`.
    pub name: String,
    /// Where it came from: `crate kiln-search`, `library /path/libx.so`, …
    pub origin: String,
    /// One line for `kiln plugins`.
    pub summary: String,
    /// The factory.
    pub factory: AnyFactory,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("family", &self.family)
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Every known plugin.
#[derive(Default, Clone, Debug)]
pub struct Registry {
    entries: BTreeMap<(Family, String), Entry>,
}

/// A statically linked plugin crate's registration function, collected by `inventory`.
#[derive(Debug)]
pub struct StaticPlugin {
    /// Where the registrations come from, e.g. `crate kiln-search`.
    pub origin: &'static str,
    /// Registers the crate's plugins.
    pub register: fn(&mut Registrar<'_>) -> Result<()>,
}

inventory::collect!(StaticPlugin);

/// Registers a plugin crate's registration function for static linking.
///
/// ```ignore
/// fn register(r: &mut kiln_core::Registrar<'_>) -> kiln_core::Result<()> {
///     r.search("random", "uniform random search", |params, ctx| { ... })
/// }
/// kiln_core::submit_plugin!(register);
/// ```
#[macro_export]
macro_rules! submit_plugin {
    ($register:path) => {
        $crate::inventory::submit! {
            $crate::registry::StaticPlugin {
                origin: concat!("crate ", env!("CARGO_PKG_NAME")),
                register: $register,
            }
        }
    };
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry holding every statically linked plugin. A binary must name each plugin
    /// crate in code (`use kiln_search as _;`) for its registrations to be linked.
    pub fn with_static_plugins() -> Result<Self> {
        let mut registry = Registry::new();
        let mut plugins: Vec<&StaticPlugin> = inventory::iter::<StaticPlugin>.into_iter().collect();
        plugins.sort_by_key(|p| p.origin);
        for plugin in plugins {
            (plugin.register)(&mut registry.registrar(plugin.origin))?;
        }
        Ok(registry)
    }

    /// A registry holding only what `register` registers, attributed to `origin`: how a
    /// wrapping plugin (a pruner around a pruner) builds its inner one by kind without the
    /// registry it is registered in, and what a crate's tests check it against.
    pub fn of(origin: &str, register: fn(&mut Registrar<'_>) -> Result<()>) -> Result<Self> {
        let mut registry = Registry::new();
        register(&mut registry.registrar(origin))?;
        Ok(registry)
    }

    /// A registrar whose registrations are attributed to `origin`.
    pub fn registrar(&mut self, origin: &str) -> Registrar<'_> {
        Registrar {
            registry: self,
            origin: origin.to_string(),
        }
    }

    /// Adds an entry; a (family, name) already present is an error naming both origins.
    pub fn insert(&mut self, entry: Entry) -> Result<()> {
        let key = (entry.family, entry.name.clone());
        if let Some(existing) = self.entries.get(&key) {
            return Err(Error::DuplicatePlugin {
                family: entry.family,
                name: entry.name,
                first: existing.origin.clone(),
                second: entry.origin,
            });
        }
        self.entries.insert(key, entry);
        Ok(())
    }

    /// Every entry, by family then name.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The names registered in `family`.
    pub fn names(&self, family: Family) -> Vec<String> {
        self.entries
            .keys()
            .filter(|(f, _)| *f == family)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The entry for `(family, name)`, or an error listing the known names and the closest.
    pub fn get(&self, family: Family, name: &str) -> Result<&Entry> {
        self.entries
            .get(&(family, name.to_string()))
            .ok_or_else(|| {
                let known = self.names(family);
                let suggestion = closest(&known, name);
                Error::UnknownPlugin {
                    family,
                    name: name.to_string(),
                    known,
                    suggestion,
                }
            })
    }
}

/// The name in `known` closest to `name`, if one is close enough to be a typo.
pub fn closest(known: &[String], name: &str) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(k, name), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k.clone())
}

macro_rules! family_api {
    ($($variant:ident, $trait_:ident, $register:ident, $build:ident;)*) => {
        impl Registrar<'_> {
            $(
                #[doc = concat!("Registers a [`", stringify!($trait_), "`] factory under `name`.")]
                pub fn $register<F>(&mut self, name: &str, summary: &str, factory: F) -> Result<()>
                where
                    F: Fn(&serde_json::Value, &BuildContext) -> Result<Box<dyn $trait_>>
                        + Send + Sync + 'static,
                {
                    // Instantiated in the registering crate — inside a plugin library, its
                    // own copy — so the guard catches panics with the right runtime.
                    let owned = name.to_string();
                    let guarded = move |params: &serde_json::Value, ctx: &BuildContext| -> Result<Box<dyn $trait_>> {
                        let object = crate::abi::guard::run(Family::$variant, &owned, || factory(params, ctx))?;
                        Ok(Box::new(crate::abi::guard::Guarded::<dyn $trait_>::new(object, &owned)))
                    };
                    self.registry.insert(Entry {
                        family: Family::$variant,
                        name: name.to_string(),
                        origin: self.origin.clone(),
                        summary: summary.to_string(),
                        factory: AnyFactory::$variant(Arc::new(guarded)),
                    })
                }
            )*
        }

        impl Registry {
            $(
                #[doc = concat!("Builds the [`", stringify!($trait_), "`] that `spec` names.")]
                pub fn $build(&self, spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn $trait_>> {
                    // The config key makes an unknown name point at the line that names it.
                    let entry = self.get(Family::$variant, &spec.kind)
                        .map_err(|e| Error::config(format!("{}.kind", ctx.key), e.to_string()))?;
                    match &entry.factory {
                        AnyFactory::$variant(f) => f(&spec.params, ctx),
                        other => Err(Error::config(&ctx.key, format!(
                            "`{}` is registered as a {} plugin", spec.kind, other.family()))),
                    }
                }
            )*
        }
    };
}

family_api! {
    Dataset, DatasetSource, dataset, build_dataset;
    Augmenter, Augmenter, augmenter, build_augmenter;
    Model, ModelFactory, model, build_model;
    Scheduler, Scheduler, scheduler, build_scheduler;
    Search, SearchStrategy, search, build_search;
    Pruner, Pruner, pruner, build_pruner;
    Ensembler, Ensembler, ensembler, build_ensembler;
    Stage, Stage, stage, build_stage;
}

/// The `&mut` API through which plugins register, static and dynamic alike.
pub struct Registrar<'a> {
    registry: &'a mut Registry,
    origin: String,
}

impl std::fmt::Debug for Registrar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("origin", &self.origin)
            .finish()
    }
}

#[cfg(test)]
mod tests;
