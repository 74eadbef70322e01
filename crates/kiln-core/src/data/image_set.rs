use crate::{Error, Result, Rng};

/// Channels, height and width of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// 1 for greyscale, 3 for RGB.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Images in memory, channel-first, as `f32` scaled to `[0, 1]`, with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Shape of one image.
    pub shape: ImageShape,
    /// `len() * shape.len()` values, image after image.
    pub pixels: Vec<f32>,
    /// One label per image; empty for unlabelled sets.
    pub labels: Vec<u32>,
}

impl ImageSet {
    /// A checked set: pixel count and label count agree.
    pub fn new(shape: ImageShape, pixels: Vec<f32>, labels: Vec<u32>) -> Result<Self> {
        if shape.is_empty() || !pixels.len().is_multiple_of(shape.len()) {
            return Err(Error::config(
                "dataset",
                format!(
                    "{} values do not divide into images of shape {:?}",
                    pixels.len(),
                    shape
                ),
            ));
        }
        let n = pixels.len() / shape.len();
        if !labels.is_empty() && labels.len() != n {
            return Err(Error::config(
                "dataset",
                format!("{n} images but {} labels", labels.len()),
            ));
        }
        Ok(ImageSet {
            shape,
            pixels,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.shape.len().max(1)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices` as a batch on `device`: pixels `[n, c, h, w]` and labels
    /// `[n]` (0 for an unlabelled set).
    pub fn batch(
        &self,
        indices: &[usize],
        device: &burn::prelude::Device,
    ) -> (burn::Tensor<4>, burn::Tensor<1, burn::prelude::Int>) {
        use burn::prelude::TensorData;
        let s = self.shape;
        let mut pixels = Vec::with_capacity(indices.len() * s.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(i64::from(self.labels.get(i).copied().unwrap_or(0)));
        }
        let n = indices.len();
        (
            burn::Tensor::from_data(
                TensorData::new(pixels, [n, s.channels, s.height, s.width]),
                device,
            ),
            burn::Tensor::from_data(TensorData::new(labels, [n]), device),
        )
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.shape.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            if !self.labels.is_empty() {
                labels.push(self.labels[i]);
            }
        }
        ImageSet {
            shape: self.shape,
            pixels,
            labels,
        }
    }

    /// Splits off a seeded, stratified `fraction` as a second set (e.g. validation).
    /// Each class keeps the same share in both parts.
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> (ImageSet, ImageSet) {
        let mut rng = Rng::new(seed);
        let classes = self
            .labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.max(1)];
        for i in 0..self.len() {
            let c = self.labels.get(i).copied().unwrap_or(0) as usize;
            by_class[c].push(i);
        }
        let (mut keep, mut held) = (Vec::new(), Vec::new());
        for idx in &mut by_class {
            rng.shuffle(idx);
            let k = ((idx.len() as f64) * fraction).round() as usize;
            held.extend_from_slice(&idx[..k]);
            keep.extend_from_slice(&idx[k..]);
        }
        keep.sort_unstable();
        held.sort_unstable();
        (self.select(&keep), self.select(&held))
    }
}
