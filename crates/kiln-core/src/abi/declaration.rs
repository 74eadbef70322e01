use crate::{
    BuildContext, DataSpec, Error, FrozenTrial, ImageSet, OptimizerConfig, Params, PluginSpec,
    Predictions, PruneDecision, Registrar, Registry, Result, ScheduleContext, SearchSpace,
    SearchStrategy, Splits, StudyView, Suggestion, TrainableModel,
};

/// First bytes of every declaration.
pub const MAGIC: [u8; 8] = *b"KILNPLUG";
/// Version of the declaration's own layout; bumped when fields change.
pub const HEADER_VERSION: u32 = 1;
/// Version of the plugin contract (traits, registrar); bumped on any breaking change.
pub const ABI_VERSION: u32 = 5;

/// A string in a fixed-size, NUL-padded byte array: plain C layout, no pointers, so the
/// loader can read it before trusting anything else in the library.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StrRef<const N: usize> {
    len: u32,
    bytes: [u8; N],
}

impl<const N: usize> StrRef<N> {
    /// Copies `s` (truncated to `N` bytes).
    pub const fn new(s: &str) -> Self {
        let src = s.as_bytes();
        let mut bytes = [0u8; N];
        let mut i = 0;
        while i < src.len() && i < N {
            bytes[i] = src[i];
            i += 1;
        }
        StrRef {
            len: i as u32,
            bytes,
        }
    }

    /// The text (lossy if the library wrote invalid UTF-8).
    pub fn text(&self) -> String {
        let n = (self.len as usize).min(N);
        String::from_utf8_lossy(&self.bytes[..n]).into_owned()
    }
}

impl<const N: usize> std::fmt::Debug for StrRef<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

const fn fnv(mut h: u64, x: u64) -> u64 {
    let bytes = x.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! layout_hash {
    ($($t:ty),* $(,)?) => {{
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        $(
            h = fnv(h, std::mem::size_of::<$t>() as u64);
            h = fnv(h, std::mem::align_of::<$t>() as u64);
        )*
        h
    }};
}

/// Sizes and alignments of the types that cross the boundary, hashed.
pub const LAYOUT_HASH: u64 = layout_hash!(
    Registry,
    Registrar<'static>,
    Error,
    PluginSpec,
    BuildContext,
    serde_json::Value,
    FrozenTrial,
    SearchSpace,
    Params,
    StudyView<'static>,
    Suggestion,
    Predictions,
    ImageSet,
    Splits,
    DataSpec,
    OptimizerConfig,
    ScheduleContext,
    PruneDecision,
    Box<dyn SearchStrategy>,
    Box<dyn TrainableModel>,
    burn::Tensor<4>,
    burn::prelude::Device,
    std::path::PathBuf,
    String,
);

const fn core_features() -> &'static str {
    if cfg!(feature = "testing") {
        "testing"
    } else {
        ""
    }
}

const fn panic_strategy() -> &'static str {
    if cfg!(panic = "unwind") {
        "unwind"
    } else {
        "abort"
    }
}

/// The compatibility record a plugin library exports as `KILN_PLUGIN_DECLARATION`.
/// Every field but `register` is plain C layout and is compared with the host's before
/// `register` is touched.
#[repr(C)]
pub struct PluginDeclaration {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`HEADER_VERSION`] of the library.
    pub header_version: u32,
    /// [`ABI_VERSION`] of the library.
    pub abi_version: u32,
    /// `rustc -vV`'s first line.
    pub rustc_version: StrRef<128>,
    /// Target triple.
    pub target: StrRef<64>,
    /// Enabled target features, sorted.
    pub target_features: StrRef<1024>,
    /// `unwind` or `abort`.
    pub panic_strategy: StrRef<16>,
    /// kiln-core's version.
    pub core_version: StrRef<32>,
    /// kiln-core's enabled features.
    pub core_features: StrRef<128>,
    /// Hash of kiln-core's sources.
    pub core_source_hash: StrRef<32>,
    /// Hash of the boundary types' layouts.
    pub layout_hash: u64,
    /// The plugin crate's name.
    pub plugin_name: StrRef<64>,
    /// The plugin crate's version.
    pub plugin_version: StrRef<32>,
    /// Registers the library's plugins into the host's registry.
    pub register: fn(&mut Registrar<'_>) -> Result<()>,
}

impl PluginDeclaration {
    /// The declaration of a plugin built against this kiln-core.
    pub const fn new(
        name: &str,
        version: &str,
        register: fn(&mut Registrar<'_>) -> Result<()>,
    ) -> Self {
        PluginDeclaration {
            magic: MAGIC,
            header_version: HEADER_VERSION,
            abi_version: ABI_VERSION,
            rustc_version: StrRef::new(env!("KILN_RUSTC_VERSION")),
            target: StrRef::new(env!("KILN_TARGET")),
            target_features: StrRef::new(env!("KILN_TARGET_FEATURES")),
            panic_strategy: StrRef::new(panic_strategy()),
            core_version: StrRef::new(env!("CARGO_PKG_VERSION")),
            core_features: StrRef::new(core_features()),
            core_source_hash: StrRef::new(env!("KILN_CORE_SOURCE_HASH")),
            layout_hash: LAYOUT_HASH,
            plugin_name: StrRef::new(name),
            plugin_version: StrRef::new(version),
            register,
        }
    }

    /// Every way this declaration differs from the host's, as `field: library … host …`.
    /// Empty when the library can be loaded.
    pub fn differences(&self) -> Vec<String> {
        let host = expected();
        let mut out = Vec::new();
        if self.abi_version != host.abi_version {
            out.push(format!(
                "ABI version: library {}, host {}",
                self.abi_version, host.abi_version
            ));
        }
        let fields = [
            (
                "compiler",
                self.rustc_version.text(),
                host.rustc_version.text(),
            ),
            ("target", self.target.text(), host.target.text()),
            (
                "target features",
                self.target_features.text(),
                host.target_features.text(),
            ),
            (
                "panic strategy",
                self.panic_strategy.text(),
                host.panic_strategy.text(),
            ),
            (
                "kiln-core version",
                self.core_version.text(),
                host.core_version.text(),
            ),
            (
                "kiln-core features",
                self.core_features.text(),
                host.core_features.text(),
            ),
            (
                "kiln-core sources",
                self.core_source_hash.text(),
                host.core_source_hash.text(),
            ),
        ];
        for (name, lib, host) in fields {
            if lib != host {
                out.push(format!("{name}: library `{lib}`, host `{host}`"));
            }
        }
        if self.layout_hash != host.layout_hash {
            out.push(format!(
                "layout of boundary types: library {:016x}, host {:016x}",
                self.layout_hash, host.layout_hash
            ));
        }
        out
    }
}

impl std::fmt::Debug for PluginDeclaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginDeclaration")
            .field("plugin", &self.plugin_name)
            .field("version", &self.plugin_version)
            .field("rustc", &self.rustc_version)
            .field("core", &self.core_version)
            .finish()
    }
}

fn host_register(_: &mut Registrar<'_>) -> Result<()> {
    Ok(())
}

/// The host's own record: what a library must match.
pub fn expected() -> PluginDeclaration {
    PluginDeclaration::new("host", env!("CARGO_PKG_VERSION"), host_register)
}
