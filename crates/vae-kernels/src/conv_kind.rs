//! How a convolution's window pass and its product are composed, and the shapes each takes
//! ([`ConvKind::check`]: what makes the fused kernel's blocks stay inside their buffers).

use super::windows::{TAPS, WindowKind, Windows};

/// How a convolution's windows and its product are composed (see `convolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Each output pixel's window gathered, then multiplied by `[9 * c_in, c_out]` weights.
    Gathered,
    /// Each input pixel multiplied by `[c_in, 9 * c_out]` weights, its 9 contributions summed
    /// per output pixel: a convolution with fewer outputs than inputs.
    Contributed,
    /// Each input pixel multiplied by `[c_in, 9 * c_out]` weights, its 9 contributions added
    /// onto the output pixels of its window: a transposed convolution.
    Transposed,
}

impl ConvKind {
    /// The window pass of the kernel.
    pub fn window(self) -> WindowKind {
        match self {
            ConvKind::Gathered => WindowKind::Gather,
            ConvKind::Contributed => WindowKind::TapSum,
            ConvKind::Transposed => WindowKind::Scatter,
        }
    }

    /// Checks that `x` (`[x_rows, c_in]`) and a `[k, n]` weight make `self`'s convolution
    /// through `windows`, and returns its output channels; panics, naming the mismatch, when
    /// they do not. Past this check every block's slices, products and passes stay inside
    /// their buffers, and the blocks write every value of the outputs.
    pub fn check(
        self,
        windows: Windows,
        (x_rows, c_in): (usize, usize),
        (k, n): (usize, usize),
    ) -> usize {
        windows.check();
        let (x_pixels, _) = self.pixels(windows);
        assert_eq!(
            Some(x_rows),
            windows.input.batch.checked_mul(x_pixels),
            "a convolution over {} images of {x_pixels} pixels was given {x_rows} rows",
            windows.input.batch
        );
        match self {
            ConvKind::Gathered => {
                assert_eq!(
                    Some(k),
                    c_in.checked_mul(TAPS),
                    "a convolution's [{k}, {n}] weight takes windows of {TAPS} x {c_in} channels"
                );
                n
            }
            ConvKind::Contributed | ConvKind::Transposed => {
                assert!(
                    k == c_in && n % TAPS == 0,
                    "a convolution's [{k}, {n}] weight takes {c_in} channels to {TAPS} taps"
                );
                n / TAPS
            }
        }
    }

    /// The pixels per image of the kernel's input rows and of its output rows.
    pub fn pixels(self, windows: Windows) -> (usize, usize) {
        let (x, out) = match self {
            ConvKind::Gathered | ConvKind::Contributed => (windows.input, windows.output),
            ConvKind::Transposed => (windows.output, windows.input),
        };
        (x.height * x.width, out.height * out.width)
    }
}
