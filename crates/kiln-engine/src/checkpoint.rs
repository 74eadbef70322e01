//! Checkpoint integrity. When the trainer keeps a checkpoint it records the weights file's
//! SHA-256 in the `*.state.json` sidecar beside it, and every load through the engine
//! checks it first, so a file that was truncated, overwritten or damaged on disk is a clear
//! error naming it instead of weights that load and silently differ.
//!
//! Writes are ordered weights → sidecar, each atomic (temporary name, then rename). A
//! process killed between the two leaves a whole weights file without a sidecar; nothing
//! refers to it, because the trial or stage records its checkpoint only after both.
//! A sidecar without `sha256` (written by kiln before checksums) is not checked.

use kiln_core::Error;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The SHA-256 of the file at `path`, in lower-case hex.
pub fn file_sha256(path: &Path) -> kiln_core::Result<String> {
    let bad = |message: String| Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks the weights at `path` against the SHA-256 its sidecar recorded, if it has one.
pub fn verify(path: &Path) -> kiln_core::Result<()> {
    let sidecar = path.with_extension("state.json");
    let Ok(text) = std::fs::read_to_string(&sidecar) else {
        return Ok(());
    };
    let recorded = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| Error::Checkpoint {
            path: sidecar.clone(),
            message: format!("not JSON: {e}"),
        })?
        .get("sha256")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let Some(recorded) = recorded else {
        return Ok(());
    };
    let actual = file_sha256(path)?;
    if actual != recorded {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "corrupt: its SHA-256 is {actual}, not the {recorded} recorded in {} when it was written",
                sidecar.display()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_changed_byte_is_found_and_an_unrecorded_file_passes() {
        let dir = tempfile::tempdir().expect("tmp");
        let weights = dir.path().join("m.safetensors");
        std::fs::write(&weights, b"weights").expect("write");
        super::verify(&weights).expect("no sidecar: nothing to check");
        let sha = super::file_sha256(&weights).expect("sha");
        std::fs::write(
            weights.with_extension("state.json"),
            serde_json::json!({ "sha256": sha }).to_string(),
        )
        .expect("sidecar");
        super::verify(&weights).expect("matches");
        std::fs::write(&weights, b"weightz").expect("damage");
        let err = super::verify(&weights).expect_err("damaged").to_string();
        assert!(
            err.contains("m.safetensors") && err.contains("corrupt"),
            "{err}"
        );
    }
}
