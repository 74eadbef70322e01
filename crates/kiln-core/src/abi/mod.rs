//! The boundary with plugins built as shared libraries.
//!
//! Rust has no stable ABI, so a plugin library is loaded only when it was built exactly like
//! the host: the same compiler, target, target features and panic strategy, the same
//! kiln-core (version, features, sources) and therefore the same layouts of everything that
//! crosses the boundary. A library proves it with a [`PluginDeclaration`] — a C-layout
//! record that the loader reads and compares field by field before calling any Rust code in
//! the library. Only then does it call the library's registration function, which registers
//! factories into the host's [`crate::Registry`] exactly as a static plugin does.
//!
//! The author writes the same registration function as for a static plugin and adds one
//! line, [`declare_plugin!`](crate::declare_plugin). The macro also pins the library to the
//! system allocator (the host's), so boxes made on one side can be freed on the other.
//!
//! Panics: each library carries its own copy of the standard library, and a panic cannot
//! unwind from one copy into another. Every plugin object is therefore wrapped, on the
//! plugin's side, in a guard ([`guard`]) that catches a panic and returns it as an
//! [`crate::Error::Plugin`]. Static plugins get the same guard; it costs a few nanoseconds.

mod declaration;
pub mod guard;

pub use declaration::{ABI_VERSION, HEADER_VERSION, MAGIC, PluginDeclaration, StrRef, expected};

/// Exports a plugin library's declaration and registration entry.
///
/// ```ignore
/// fn register(r: &mut kiln_core::Registrar<'_>) -> kiln_core::Result<()> {
///     r.search("annealing", "simulated annealing", |p, ctx| Ok(Box::new(Annealing::new(p, ctx)?)))
/// }
/// kiln_core::declare_plugin!(register);
/// ```
/// The crate is built as a `cdylib` with the host's toolchain and kiln-core version.
#[macro_export]
macro_rules! declare_plugin {
    ($register:path) => {
        /// Keeps this library on the host's allocator (boxes cross the boundary).
        #[global_allocator]
        static KILN_PLUGIN_ALLOCATOR: ::std::alloc::System = ::std::alloc::System;

        fn kiln_plugin_entry(registrar: &mut $crate::Registrar<'_>) -> $crate::Result<()> {
            // Registration itself runs plugin code: guard it like every later call.
            match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
                $register(registrar)
            })) {
                Ok(result) => result,
                Err(payload) => Err($crate::Error::Plugin {
                    family: $crate::Family::Stage,
                    name: env!("CARGO_PKG_NAME").to_string(),
                    message: format!(
                        "panicked while registering: {}",
                        $crate::abi::guard::panic_text(payload.as_ref())
                    ),
                }),
            }
        }

        /// The compatibility record the kiln loader reads before anything else.
        // The one unsafe attribute of a plugin: the loader finds the record by this name.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub static KILN_PLUGIN_DECLARATION: $crate::abi::PluginDeclaration =
            $crate::abi::PluginDeclaration::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                kiln_plugin_entry,
            );
    };
}
