//! What the targets share: a scratch folder for the readers that only take a path.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This process's scratch folder (under `$TMPDIR`; `scripts/fuzz-smoke.sh` points that at a
/// folder of its own and removes it afterwards).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("kiln-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the scratch folder");
        d
    })
}

/// Writes `bytes` to `name` in the scratch folder and returns its path.
pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("write a scratch file");
    p
}
