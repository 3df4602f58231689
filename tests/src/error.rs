//! Errors of the test infrastructure: a command that could not run or failed, a
//! wait that timed out, a guest that could not be built, unexpected tool output.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while setting up or driving the test environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program could not be started at all.
    #[error("`{command}` could not start: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why `exec` failed.
        source: std::io::Error,
    },
    /// A program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status, as text.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// Something expected did not happen in time.
    #[error("{what}: nothing within {timeout:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A child process ended before it produced what was awaited.
    #[error("{what}: the process exited first; stderr: {stderr}")]
    Exited {
        /// What was awaited.
        what: String,
        /// What the process printed on stderr.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The qemu guest could not be built (tests/vm/build-guest.sh failed).
    #[error("building the client guest failed: {0}")]
    GuestBuild(String),
    /// A tool printed something we could not parse.
    #[error("unexpected output from {tool}: {output:?}")]
    BadOutput {
        /// The tool.
        tool: String,
        /// What it printed.
        output: String,
    },
    /// A caller passed an argument that cannot work (a bad name, an empty topology).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
