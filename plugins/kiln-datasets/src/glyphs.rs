//! A generated image-classification set: 10 stroke glyphs under random rotation, shift,
//! scale, stroke thickness and pixel noise.
//!
//! It exists so that tests, examples and the quickstart run offline on data that is hard
//! enough for tuning to matter: some classes differ only by a stroke (`O` / `Q`, `+` / `T`,
//! `=` / `≡`), and the distortions overlap classes that a small or badly-tuned model mixes
//! up. Every image is drawn from its own seeded stream, so the set is the same on every
//! machine.

use kiln_core::{
    BuildContext, DataSpec, DatasetSource, Error, ImageSet, ImageShape, Result, Rng, Splits,
};
use serde::Deserialize;

/// Parameters of [`GlyphSource`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlyphConfig {
    /// Training images.
    pub train: usize,
    /// Validation images.
    pub valid: usize,
    /// Test images.
    pub test: usize,
    /// Side of the square images, in pixels (at least 8).
    pub size: usize,
    /// Standard deviation of the additive pixel noise.
    pub noise: f64,
    /// Largest rotation, in degrees, either way.
    pub max_rotation: f64,
    /// Probability of a stray stroke somewhere in the image.
    pub clutter: f64,
}

impl Default for GlyphConfig {
    fn default() -> Self {
        GlyphConfig {
            train: 3000,
            valid: 600,
            test: 1000,
            size: 28,
            noise: 0.25,
            max_rotation: 30.0,
            clutter: 0.6,
        }
    }
}

type Seg = ((f64, f64), (f64, f64));

fn ring(cx: f64, cy: f64, r: f64, from: f64, to: f64, n: usize) -> Vec<Seg> {
    (0..n)
        .map(|i| {
            let a = from + (to - from) * i as f64 / n as f64;
            let b = from + (to - from) * (i + 1) as f64 / n as f64;
            (
                (cx + r * a.cos(), cy + r * a.sin()),
                (cx + r * b.cos(), cy + r * b.sin()),
            )
        })
        .collect()
}

/// The strokes of each class, in a `[-1, 1]²` box (y down).
fn glyph(class: usize) -> Vec<Seg> {
    use std::f64::consts::PI;
    let full = 2.0 * PI;
    match class {
        0 => ring(0.0, 0.0, 0.75, 0.0, full, 16), // O
        1 => {
            let mut s = ring(0.0, 0.0, 0.75, 0.0, full, 16); // Q: O with a tail
            s.push(((0.3, 0.3), (0.85, 0.85)));
            s
        }
        2 => vec![((-0.8, 0.0), (0.8, 0.0)), ((0.0, -0.8), (0.0, 0.8))], // +
        3 => vec![((-0.8, -0.7), (0.8, -0.7)), ((0.0, -0.7), (0.0, 0.8))], // T
        4 => vec![((-0.7, -0.7), (0.7, 0.7)), ((-0.7, 0.7), (0.7, -0.7))], // X
        5 => vec![((-0.8, -0.3), (0.8, -0.3)), ((-0.8, 0.3), (0.8, 0.3))], // =
        6 => vec![
            ((-0.8, -0.55), (0.8, -0.55)), // ≡
            ((-0.8, 0.0), (0.8, 0.0)),
            ((-0.8, 0.55), (0.8, 0.55)),
        ],
        7 => vec![((-0.6, -0.8), (-0.6, 0.8)), ((-0.6, 0.8), (0.7, 0.8))], // L
        8 => vec![
            ((-0.7, 0.7), (0.0, -0.8)),
            ((0.0, -0.8), (0.7, 0.7)),
            ((-0.7, 0.7), (0.7, 0.7)),
        ], // △
        _ => ring(0.0, 0.1, 0.7, PI, full, 8) // U
            .into_iter()
            .map(|((x0, y0), (x1, y1))| ((x0, -y0), (x1, -y1)))
            .chain([((-0.7, -0.1), (-0.7, -0.8)), ((0.7, -0.1), (0.7, -0.8))])
            .collect(),
    }
}

fn dist_to_segment(px: f64, py: f64, ((ax, ay), (bx, by)): Seg) -> f64 {
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    };
    let (qx, qy) = (ax + t * dx, ay + t * dy);
    ((px - qx).powi(2) + (py - qy).powi(2)).sqrt()
}

/// Renders one image of `class` from `rng`.
pub fn render(class: usize, size: usize, cfg: &GlyphConfig, rng: &mut Rng) -> Vec<f32> {
    let mut strokes = glyph(class);
    if rng.bernoulli(cfg.clutter) {
        // A stray stroke, in glyph space so it turns and scales with the glyph.
        let (x, y) = (rng.uniform_range(-1.0, 1.0), rng.uniform_range(-1.0, 1.0));
        let a = rng.uniform_range(0.0, std::f64::consts::PI);
        let len = rng.uniform_range(0.3, 0.6);
        strokes.push(((x, y), (x + len * a.cos(), y + len * a.sin())));
    }
    let angle = rng
        .uniform_range(-cfg.max_rotation, cfg.max_rotation)
        .to_radians();
    let scale = rng.uniform_range(0.6, 0.95);
    let (sx, sy) = (
        rng.uniform_range(-0.18, 0.18),
        rng.uniform_range(-0.18, 0.18),
    );
    let thickness = rng.uniform_range(0.08, 0.2);
    let (sin, cos) = angle.sin_cos();
    let mut out = Vec::with_capacity(size * size);
    for row in 0..size {
        for col in 0..size {
            // Pixel centre in [-1, 1]², mapped back into glyph space.
            let x = (col as f64 + 0.5) / size as f64 * 2.0 - 1.0 - sx;
            let y = (row as f64 + 0.5) / size as f64 * 2.0 - 1.0 - sy;
            let (gx, gy) = ((cos * x + sin * y) / scale, (-sin * x + cos * y) / scale);
            let d = strokes
                .iter()
                .map(|&s| dist_to_segment(gx, gy, s))
                .fold(f64::INFINITY, f64::min);
            let ink = (1.0 - (d * scale - thickness * 0.5) / (2.0 / size as f64)).clamp(0.0, 1.0);
            let v = ink + cfg.noise * rng.normal();
            out.push(v.clamp(0.0, 1.0) as f32);
        }
    }
    out
}

/// Generated glyphs; see the module docs.
#[derive(Debug, Clone)]
pub struct GlyphSource {
    config: GlyphConfig,
    seed: u64,
}

impl GlyphSource {
    /// A source with a validated `config`.
    pub fn new(config: GlyphConfig, seed: u64, key: &str) -> Result<Self> {
        if config.size < 8 {
            return Err(Error::config(
                format!("{key}.size"),
                format!("must be at least 8, got {}", config.size),
            ));
        }
        if config.train < 10 || config.valid < 10 {
            return Err(Error::config(
                key,
                "`train` and `valid` need at least 10 images each",
            ));
        }
        if !(0.0..=1.0).contains(&config.noise) {
            return Err(Error::config(
                format!("{key}.noise"),
                format!("must be in [0, 1], got {}", config.noise),
            ));
        }
        if !(0.0..=1.0).contains(&config.clutter) {
            return Err(Error::config(
                format!("{key}.clutter"),
                format!("must be in [0, 1], got {}", config.clutter),
            ));
        }
        if !(0.0..=180.0).contains(&config.max_rotation) {
            return Err(Error::config(
                format!("{key}.max_rotation"),
                "must be in [0, 180] degrees",
            ));
        }
        Ok(GlyphSource { config, seed })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        GlyphSource::new(ctx.parse(params)?, ctx.seed, &ctx.key)
    }

    fn split(&self, stream: u64, n: usize) -> Result<ImageSet> {
        let size = self.config.size;
        let mut pixels = Vec::with_capacity(n * size * size);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let mut rng = Rng::derive(self.seed, &[stream, i as u64]);
            let class = rng.below(10) as usize;
            pixels.extend(render(class, size, &self.config, &mut rng));
            labels.push(class as u32);
        }
        ImageSet::new(
            ImageShape {
                channels: 1,
                height: size,
                width: size,
            },
            pixels,
            labels,
        )
    }
}

impl DatasetSource for GlyphSource {
    fn load(&self) -> Result<Splits> {
        let size = self.config.size;
        Ok(Splits {
            spec: DataSpec {
                shape: ImageShape {
                    channels: 1,
                    height: size,
                    width: size,
                },
                num_classes: 10,
            },
            train: self.split(0, self.config.train)?,
            valid: self.split(1, self.config.valid)?,
            test: if self.config.test > 0 {
                Some(self.split(2, self.config.test)?)
            } else {
                None
            },
            unlabelled: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> GlyphSource {
        let c = GlyphConfig {
            train: 60,
            valid: 20,
            test: 20,
            size: 16,
            ..GlyphConfig::default()
        };
        GlyphSource::new(c, seed, "dataset").expect("valid")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_dataset(|seed| Box::new(small(seed)));
    }

    #[test]
    fn images_have_ink_and_classes_differ() {
        let cfg = GlyphConfig {
            noise: 0.0,
            ..GlyphConfig::default()
        };
        let mean = |c: usize| {
            let img = render(c, 28, &cfg, &mut Rng::new(1));
            img.iter().sum::<f32>() / img.len() as f32
        };
        for c in 0..10 {
            let m = mean(c);
            assert!(m > 0.02 && m < 0.5, "class {c} ink {m}");
        }
        assert_ne!(
            render(0, 28, &cfg, &mut Rng::new(1)),
            render(1, 28, &cfg, &mut Rng::new(1))
        );
        let err = GlyphSource::new(
            GlyphConfig {
                size: 4,
                ..GlyphConfig::default()
            },
            0,
            "dataset",
        )
        .expect_err("too small");
        assert!(err.to_string().contains("dataset.size"));
    }
}
