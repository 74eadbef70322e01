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
}
