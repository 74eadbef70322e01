//! Progress lines for the operator, on standard error.

use std::io::Write;
use std::time::Instant;

/// Prints timestamped progress lines unless quiet.
#[derive(Debug, Clone)]
pub struct Progress {
    start: Instant,
    quiet: bool,
}

impl Progress {
    /// A printer; `quiet` silences it.
    pub fn new(quiet: bool) -> Self {
        Progress {
            start: Instant::now(),
            quiet,
        }
    }

    /// Prints one line, prefixed with the elapsed time.
    pub fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        let t = self.start.elapsed().as_secs();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "[{:>3}:{:02}] {message}", t / 60, t % 60);
    }
}
