//! Errors of the benchmark: the environment could not be set up or measured, or the gateway
//! did something functionally wrong (the only reasons `pptpd-bench` exits non-zero).

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file in `/proc` or `/sys` could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Socket {
        /// What was attempted.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    System {
        /// What was attempted.
        what: String,
        /// The error number.
        source: nix::Error,
    },
    /// The kernel printed something we could not read.
    #[error("cannot parse {what}: {text:?}")]
    Parse {
        /// Where it came from.
        what: String,
        /// What it said.
        text: String,
    },
    /// The namespaces or the gateway could not be set up.
    #[error("set-up: {0}")]
    Setup(#[from] pptpd_tests::Error),
    /// A client could not bring a session up or tear it down.
    #[error("client: {0}")]
    Client(#[from] pptp_client::ClientError),
    /// The gateway misbehaved: sessions did not come up or go down cleanly, a verified sample
    /// was wrong, a measurement delivered nothing.
    #[error("functional failure: {0}")]
    Functional(String),
    /// A signal asked the benchmark to stop.
    #[error("interrupted")]
    Interrupted,
    /// An internal thread of the benchmark died.
    #[error("{0} thread panicked")]
    ThreadPanicked(&'static str),
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BenchError::Io {
            path: path.into(),
            source,
        }
    }

    /// A socket error while doing `what`.
    pub fn socket(what: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Socket {
            what: what.into(),
            source,
        }
    }

    /// A failed system call while doing `what`.
    pub fn system(what: impl Into<String>, source: nix::Error) -> Self {
        BenchError::System {
            what: what.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
