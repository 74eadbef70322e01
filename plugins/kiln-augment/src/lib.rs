//! kiln's built-in augmenters.
//!
//! | augmenter | kind | parameters | notes |
//! |---|---|---|---|
//! | horizontal flip | `hflip` | `p` (0.5) | mirrors each sample with probability `p`, one draw per sample |
//! | vertical flip | `vflip` | `p` (0.5) | flips each sample upside down |
//! | brightness / exposure | `brightness` | `p` (0.5), `strength` (0.2) | `x + b`, `b ~ U(-s, s)` per sample |
//! | contrast | `contrast` | `p`, `strength` (0.2) | `(x - mean)·f + mean`, `f ~ U(1 - s, 1 + s)` |
//! | gamma | `gamma` | `p`, `strength` (0.2) | `x^g`, `g ~ U(1 - s, 1 + s)` |
//! | saturation | `saturation` | `p`, `strength` (0.2) | RGB: `luma + f·(x - luma)`; one channel: identity |
//! | hue | `hue` | `p` (0.5), `strength` (0.1, at most 0.5) | RGB → HSV, hue turned by `h ~ U(-s, s)` turns, → RGB; one channel: identity |
//! | affine | `affine` | `p` (0.5), `degrees`, `shear` (degrees), `scale` (± share), `translate` (± share of the side), all 0 | one per-sample warp on the device, bilinear, zeros outside |
//! | rotation | `rotate` | `p`, `degrees` | the `affine` preset with rotation only |
//! | shear | `shear` | `p`, `shear` | horizontal shear only |
//! | scale | `scale` | `p`, `scale` | zoom in or out |
//! | translation | `translate` | `p`, `translate` | shift |
//! | cutout | `cutout` | `p` (0.5), `size` (0.25 of the shorter side), `fill` (0) | a square hole per sample |
//! | crop with padding | `crop` | `p` (1.0), `padding` (4 pixels), `fill` (0) | pad by `padding` with `fill`, crop back at offsets `top`, `left ~ U{0..=2·padding}`: an exact integer shift (one gather) |
//! | resized crop | `resized_crop` | `p` (1.0), `scale` (`[0.08, 1.0]` of the area), `ratio` (`[3/4, 4/3]`, log-uniform) | a box of that area share and aspect (clamped to fit), resized back bilinearly by the `affine` warp |
//! | mixup | `mixup` | `p` (1), `alpha` (0.2) | `λ·x + (1-λ)·x'` with a partner from the batch, `λ ~ Beta(α, α)` per sample; labels blended alike |
//! | cutmix | `cutmix` | `p` (1), `alpha` (1) | a box of `√(1-λ)` of each side pasted from the partner; labels blended by the pasted area |
//!
//! Every op takes its draws per sample (a Bernoulli for `p`, then its values, in a fixed
//! order whether or not the sample fires: `crop` draws `top` then `left`, `resized_crop` the
//! area share, the log ratio, then the top and left positions) and applies as one batched
//! tensor operation on the training device; photometric ops clamp back to [0, 1]. Every op
//! but mixup, cutmix and hue also has a host path (`augment_host`), which the trainer uses
//! when the batch is on the CPU: the same draws applied sample by sample on the batch's own
//! buffer (the affine warp in `warp_host.rs`, without a sampling grid), 4–6× faster there
//! than the tensor ops (docs/benchmarks.md). The crops
//! default to `p = 1`, as torchvision applies them to every image. Mixup and cutmix change
//! the labels too: the trainer then trains on the blended probability rows (soft targets).

mod affine;
mod colour;
mod crop;
mod cutmix;
mod cutout;
mod hflip;
mod hue;
mod mix;
mod mixup;
mod per_sample;
mod resized_crop;
mod vflip;
mod warp_host;
pub use warp_host::{WarpScratch, warp_image as warp_image_host};

pub use affine::{Affine, AffineConfig, Transform, warp, warp_matrices, warp_matrices_host};
pub use colour::{Colour, ColourConfig, ColourOp};
pub use crop::{Crop, CropConfig, shift_crop, shift_crop_host};
pub use cutmix::{CutMix, CutMixConfig, PasteBox};
pub use cutout::{Cutout, CutoutConfig};
pub use hflip::{HFlip, HFlipConfig};
pub use hue::{Hue, HueConfig, shift_hue};
pub use mixup::{Mixup, MixupConfig};
pub use resized_crop::{CropBox, ResizedCrop, ResizedCropConfig, resize_crops};
pub use vflip::VFlip;

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.augmenter(
        "hflip",
        "mirror each image left-right with probability `p`",
        |params, ctx| Ok(Box::new(HFlip::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "vflip",
        "flip each image upside down with probability `p`",
        |params, ctx| Ok(Box::new(VFlip::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "brightness",
        "shift each image's brightness (exposure) by its own amount",
        |params, ctx| {
            Ok(Box::new(Colour::from_params(
                ColourOp::Brightness,
                params,
                ctx,
            )?))
        },
    )?;
    r.augmenter(
        "contrast",
        "scale each image's contrast around its mean",
        |params, ctx| {
            Ok(Box::new(Colour::from_params(
                ColourOp::Contrast,
                params,
                ctx,
            )?))
        },
    )?;
    r.augmenter(
        "gamma",
        "raise each image to its own gamma",
        |params, ctx| Ok(Box::new(Colour::from_params(ColourOp::Gamma, params, ctx)?)),
    )?;
    r.augmenter(
        "saturation",
        "scale each RGB image's saturation around its luma",
        |params, ctx| {
            Ok(Box::new(Colour::from_params(
                ColourOp::Saturation,
                params,
                ctx,
            )?))
        },
    )?;
    r.augmenter(
        "hue",
        "turn each RGB image's hue by its own share of a turn",
        |params, ctx| Ok(Box::new(Hue::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "affine",
        "rotate, shear, scale and shift each image by its own draw (one batched warp)",
        |params, ctx| Ok(Box::new(Affine::from_params(params, ctx, None)?)),
    )?;
    r.augmenter(
        "rotate",
        "rotate each image by its own angle in [-degrees, degrees]",
        |params, ctx| Ok(Box::new(Affine::from_params(params, ctx, Some("degrees"))?)),
    )?;
    r.augmenter(
        "shear",
        "shear each image horizontally by its own angle",
        |params, ctx| Ok(Box::new(Affine::from_params(params, ctx, Some("shear"))?)),
    )?;
    r.augmenter(
        "scale",
        "zoom each image by its own factor in [1 - scale, 1 + scale]",
        |params, ctx| Ok(Box::new(Affine::from_params(params, ctx, Some("scale"))?)),
    )?;
    r.augmenter(
        "translate",
        "shift each image by its own share of the side",
        |params, ctx| {
            Ok(Box::new(Affine::from_params(
                params,
                ctx,
                Some("translate"),
            )?))
        },
    )?;
    r.augmenter(
        "cutout",
        "erase a random square of each image",
        |params, ctx| Ok(Box::new(Cutout::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "mixup",
        "blend each image and its label with a partner from the batch",
        |params, ctx| Ok(Box::new(Mixup::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "cutmix",
        "paste a box of a partner into each image; labels blended by area",
        |params, ctx| Ok(Box::new(CutMix::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "crop",
        "pad each image and crop it back at its own offset (an integer shift)",
        |params, ctx| Ok(Box::new(Crop::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "resized_crop",
        "crop a box of random area and aspect from each image and resize it back",
        |params, ctx| Ok(Box::new(ResizedCrop::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);

#[cfg(test)]
mod tests {
    use kiln_core::burn::Tensor;
    use kiln_core::burn::prelude::{Device, TensorData};
    use kiln_core::testing::{context, registry_of, spec};
    use kiln_core::{Augmenter, Rng};

    #[test]
    fn the_chain_runner_matches_the_tensor_path_across_ops_with_and_without_a_host_path() {
        let registry = registry_of(super::register);
        let chain: Vec<Box<dyn Augmenter>> = [
            serde_json::json!({ "kind": "hflip" }),
            serde_json::json!({ "kind": "affine", "p": 0.7, "degrees": 15, "shear": 10 }),
            serde_json::json!({ "kind": "hue", "p": 0.8 }),
            serde_json::json!({ "kind": "crop", "padding": 2 }),
            serde_json::json!({ "kind": "contrast", "p": 0.9 }),
        ]
        .iter()
        .map(|s| {
            registry
                .build_augmenter(&spec(s.clone()), &context(0))
                .expect("builds")
        })
        .collect();
        assert_eq!(
            chain.iter().map(|a| a.has_host_path()).collect::<Vec<_>>(),
            [true, true, false, true, true]
        );
        let shape = [10, 3, 11, 13];
        let pixels: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|i| ((i * 31) % 89) as f32 / 88.0)
            .collect();
        let x = || Tensor::<4>::from_data(TensorData::new(pixels.clone(), shape), &Device::flex());
        let mut on_tensor = x();
        let mut rng = Rng::new(5);
        for a in &chain {
            on_tensor = a.augment(on_tensor, &mut rng).expect("augment");
        }
        let chained = kiln_core::augment_images(&chain, x(), &mut Rng::new(5)).expect("chain");
        let (a, b): (Vec<f32>, Vec<f32>) = (
            on_tensor.into_data().try_to_vec().expect("f32"),
            chained.into_data().try_to_vec().expect("f32"),
        );
        assert_ne!(a, pixels, "the chain changed nothing");
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "host and tensor paths differ by {worst}");
    }

    #[test]
    fn the_crops_and_hue_build_by_name_with_their_defaults() {
        let registry = registry_of(super::register);
        for kind in ["crop", "resized_crop", "hue"] {
            registry
                .build_augmenter(&spec(serde_json::json!({ "kind": kind })), &context(0))
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        let e = registry
            .build_augmenter(
                &spec(serde_json::json!({ "kind": "resized_crop", "scale": [0.5, 0.2] })),
                &context(0),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("test.scale"), "{e}");
    }
}
