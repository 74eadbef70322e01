//! Device names in config: `cpu`, `cuda:N`, `tch:cpu`, `tch:cuda:N`.

use burn::prelude::Device;

/// The (non-autodiff) device a name stands for, or why it is not available.
pub fn parse(name: &str) -> Result<Device, String> {
    let index = |s: &str| -> Result<usize, String> {
        s.parse::<usize>()
            .map_err(|_| format!("`{s}` is not a device index"))
    };
    match name.split(':').collect::<Vec<_>>().as_slice() {
        ["cpu"] | ["flex"] => Ok(Device::flex()),
        ["cuda"] | ["cuda", _] => {
            let i = match name.split_once(':') {
                Some((_, i)) => index(i)?,
                None => 0,
            };
            cuda(i)
        }
        ["tch", "cpu"] => tch(None),
        ["tch", "cuda", i] => tch(Some(index(i)?)),
        _ => Err(format!(
            "unknown device `{name}`; expected cpu, cuda:N, tch:cpu or tch:cuda:N"
        )),
    }
}

#[cfg(feature = "cuda")]
fn cuda(i: usize) -> Result<Device, String> {
    Ok(Device::cuda(i))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Device, String> {
    Err("this kiln was built without CUDA; rebuild with `--features cuda`".into())
}

#[cfg(feature = "tch")]
fn tch(i: Option<usize>) -> Result<Device, String> {
    Ok(match i {
        None => Device::libtorch(),
        Some(i) => Device::libtorch_cuda(i),
    })
}

#[cfg(not(feature = "tch"))]
fn tch(_: Option<usize>) -> Result<Device, String> {
    Err(
        "this kiln was built without LibTorch; rebuild with `--features tch` (see the README)"
            .into(),
    )
}

/// The device slot a worker is pinned to.
pub(crate) struct PinnedSlot<'a> {
    pub at: &'a crate::config::DeviceSlot,
    pub device: &'a Device,
    /// Whether `devices` placed it (then failures name the device).
    pub pinned: bool,
}

impl PinnedSlot<'_> {
    /// A trial's failure reason; a device that ran out of memory is said so, with its name,
    /// whatever words the backend used (CubeCL's `OutOfMemory`, CUDA's
    /// `CUDA_ERROR_OUT_OF_MEMORY`, LibTorch's `CUDA out of memory`).
    pub fn failure(&self, message: &str) -> String {
        if is_out_of_memory(message) {
            format!("out of memory on {}: {message}", self.at)
        } else if self.pinned {
            format!("{message} (on {})", self.at)
        } else {
            message.to_string()
        }
    }
}

/// Whether a backend's error or panic message says a device allocation failed.
fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("out of memory") || m.contains("outofmemory") || m.contains("out_of_memory")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::parse("cpu").is_ok());
        assert!(
            super::parse("gpu")
                .expect_err("unknown")
                .contains("unknown device")
        );
        assert!(super::parse("cuda:x").is_err());
    }

    #[test]
    fn out_of_memory_is_named_with_its_device_in_every_backend_wording() {
        let at = crate::config::DeviceSlot {
            device: "cuda:1".into(),
            slot: 2,
        };
        let device = super::Device::flex();
        let slot = super::PinnedSlot {
            at: &at,
            device: &device,
            pinned: true,
        };
        for message in [
            "panicked: called `Result::unwrap()` on an `Err` value: OutOfMemory",
            "CUDA_ERROR_OUT_OF_MEMORY",
            "Torch(\"CUDA out of memory. Tried to allocate 2.00 GiB\")",
        ] {
            let reason = slot.failure(message);
            assert!(
                reason.starts_with("out of memory on cuda:1 slot 2: "),
                "{reason}"
            );
        }
        assert_eq!(
            slot.failure("shape mismatch"),
            "shape mismatch (on cuda:1 slot 2)"
        );
        let unpinned = super::PinnedSlot {
            pinned: false,
            ..slot
        };
        assert_eq!(unpinned.failure("shape mismatch"), "shape mismatch");
    }
}
