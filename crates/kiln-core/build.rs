//! Records what a dynamic plugin must share with the host to be loaded safely: the
//! compiler, the target and its features, and a hash of kiln-core's own sources (so a
//! changed core with an unchanged version number is still told apart).

use std::path::Path;
use std::process::Command;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_dir(dir: &Path, h: &mut u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            hash_dir(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            *h = fnv(
                *h,
                p.file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            );
            *h = fnv(*h, &bytes);
        }
    }
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown rustc".into());
    println!("cargo:rustc-env=KILN_RUSTC_VERSION={version}");
    println!(
        "cargo:rustc-env=KILN_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    let mut features: Vec<String> = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    features.sort();
    println!(
        "cargo:rustc-env=KILN_TARGET_FEATURES={}",
        features.join(",")
    );
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    hash_dir(Path::new("src"), &mut h);
    h = fnv(
        h,
        std::fs::read("Cargo.toml").unwrap_or_default().as_slice(),
    );
    println!("cargo:rustc-env=KILN_CORE_SOURCE_HASH={h:016x}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
}
