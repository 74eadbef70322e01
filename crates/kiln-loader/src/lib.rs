//! kiln-loader: plugins from shared libraries. The only crate of kiln with `unsafe` code.
//!
//! Loading a Rust library built by another compiler or against another kiln-core is
//! undefined behaviour the moment any of its Rust code runs. So [`load`] reads the library's
//! C-layout compatibility record ([`kiln_core::abi::PluginDeclaration`]) first — the magic
//! bytes, then the header version, then every field — and refuses a library that differs in
//! anything, listing every difference and how to rebuild, before calling into it. Only a
//! matching library's registration function is called, with the host's registrar; from
//! then on its plugins resolve exactly like static ones.
//!
//! Libraries are loaded only from paths the user names, and never unloaded: a thread-local
//! destructor or a leaked object may still point into the library, and a call after
//! unloading crashes. Each library stays mapped until the process ends.

#![allow(unsafe_code)]

use kiln_core::Registry;
use kiln_core::abi::{HEADER_VERSION, MAGIC, PluginDeclaration};
use std::path::{Path, PathBuf};

/// The symbol every plugin library exports (see `kiln_core::declare_plugin!`).
pub const DECLARATION_SYMBOL: &[u8] = b"KILN_PLUGIN_DECLARATION\0";

/// Why a library was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not name a file.
    #[error("plugin library {}: no such file", .0.display())]
    Missing(PathBuf),
    /// The operating system could not load it (not a shared library, wrong architecture…).
    #[error("plugin library {}: cannot be loaded as a shared library: {message}", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// It loads, but exports no declaration: not a kiln plugin.
    #[error("plugin library {}: not a kiln plugin (it exports no KILN_PLUGIN_DECLARATION; plugins end with `kiln_core::declare_plugin!(register);`)", .0.display())]
    NotAPlugin(PathBuf),
    /// The declaration is malformed or of another header version.
    #[error("plugin library {}: {message}", path.display())]
    BadDeclaration {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Built differently from this kiln.
    #[error("plugin library {} ({plugin}) was built differently from this kiln and was not loaded:\n  - {}\nRebuild it with the same toolchain (`rustc -V` = {host_rustc}), the same kiln-core version and features, panic = \"unwind\" and default target features: `cargo build --release -p <plugin>` inside this kiln workspace does that.", path.display(), differences.join("\n  - "))]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// The plugin's name and version.
        plugin: String,
        /// Every field that differs.
        differences: Vec<String>,
        /// The host's compiler, for the advice.
        host_rustc: String,
    },
    /// The library's registration failed (a duplicate name, a plugin error).
    #[error("plugin library {}: registration failed: {source}", path.display())]
    Register {
        /// The file.
        path: PathBuf,
        /// The registry's error.
        source: kiln_core::Error,
    },
}

/// What was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPlugin {
    /// The library file.
    pub path: PathBuf,
    /// The plugin crate's name.
    pub name: String,
    /// The plugin crate's version.
    pub version: String,
}

/// Loads the plugin library at `path` into `registry` after checking its declaration.
/// On any error nothing is registered and no code of the library has run (beyond what the
/// dynamic linker runs to map it).
pub fn load(path: &Path, registry: &mut Registry) -> Result<LoadedPlugin, LoadError> {
    if !path.is_file() {
        return Err(LoadError::Missing(path.to_path_buf()));
    }
    // SAFETY: loading runs the library's initialisers. kiln libraries have none beyond
    // Rust's; a user names the path, and that is the trust decision (as with any plugin
    // system). Nothing else of the library runs before the declaration check.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::NotALibrary {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    // SAFETY: the symbol is only read as raw bytes until it is validated below.
    let symbol = unsafe { library.get::<*const u8>(DECLARATION_SYMBOL) }
        .map_err(|_| LoadError::NotAPlugin(path.to_path_buf()))?;
    let base: *const u8 = *symbol;
    if base.is_null() {
        return Err(LoadError::NotAPlugin(path.to_path_buf()));
    }
    // SAFETY: a plugin declaration starts with 8 magic bytes and a u32 header version; a
    // symbol of that name in a kiln plugin is at least that large. A foreign symbol of the
    // same name would be a deliberate forgery.
    let (magic, header) = unsafe {
        let mut magic = [0u8; 8];
        std::ptr::copy_nonoverlapping(base, magic.as_mut_ptr(), 8);
        let header = std::ptr::read_unaligned(base.add(8) as *const u32);
        (magic, header)
    };
    if magic != MAGIC {
        return Err(LoadError::BadDeclaration {
            path: path.to_path_buf(),
            message: "KILN_PLUGIN_DECLARATION does not start with the kiln magic bytes".into(),
        });
    }
    if header != HEADER_VERSION {
        return Err(LoadError::BadDeclaration {
            path: path.to_path_buf(),
            message: format!(
                "declaration header version {header}, this kiln reads version {HEADER_VERSION}; rebuild the plugin against this kiln-core"
            ),
        });
    }
    // SAFETY: same magic and header version, so the record has `PluginDeclaration`'s C
    // layout for every field but `register`, which is not touched until all fields match.
    let declaration: &PluginDeclaration = unsafe { &*(base as *const PluginDeclaration) };
    let plugin = format!(
        "{} {}",
        declaration.plugin_name.text(),
        declaration.plugin_version.text()
    );
    let differences = declaration.differences();
    if !differences.is_empty() {
        return Err(LoadError::Incompatible {
            path: path.to_path_buf(),
            plugin,
            differences,
            host_rustc: kiln_core::abi::expected().rustc_version.text(),
        });
    }
    let origin = format!("library {}", path.display());
    // Register into a scratch copy first: a failure leaves the real registry untouched.
    let mut scratch = registry.clone();
    (declaration.register)(&mut scratch.registrar(&origin)).map_err(|source| {
        LoadError::Register {
            path: path.to_path_buf(),
            source,
        }
    })?;
    *registry = scratch;
    let loaded = LoadedPlugin {
        path: path.to_path_buf(),
        name: declaration.plugin_name.text(),
        version: declaration.plugin_version.text(),
    };
    // Never unload: the library's code now backs factories in the registry.
    std::mem::forget(library);
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_library_files_are_refused() {
        let mut r = Registry::new();
        let err = load(Path::new("/nonexistent/libx.so"), &mut r).expect_err("missing");
        assert!(matches!(err, LoadError::Missing(_)), "{err}");
        let dir = tempfile::tempdir().expect("tmp");
        let text = dir.path().join("libtext.so");
        std::fs::write(&text, b"not an ELF file").expect("write");
        let err = load(&text, &mut r).expect_err("text");
        assert!(matches!(err, LoadError::NotALibrary { .. }), "{err}");
        assert!(r.entries().next().is_none());
    }
}
