//! The crate's error type: everything that can go wrong while planning, installing or removing
//! the egress (configuration, `/proc` and state files, `nft`/`iptables` processes).

use std::io;
use std::path::PathBuf;

use nftables::helper::NftablesError;

/// Why planning, installing or removing the egress failed.
#[derive(Debug, thiserror::Error)]
pub enum NatError {
    /// The address pool holds no prefix.
    #[error("the address pool is empty")]
    EmptyPool,
    /// An interface name that Linux would refuse, or that a firewall tool would read as a pattern.
    #[error("{name:?} is not a usable interface name (1-15 characters of A-Z a-z 0-9 . _ -)")]
    InvalidInterfaceName {
        /// The rejected name.
        name: String,
    },
    /// The TUN interface and the egress interface are the same device.
    #[error("the TUN interface and the egress interface are both {name:?}")]
    SameInterface {
        /// The interface named twice.
        name: String,
    },
    /// The TUN MTU is too small to derive a TCP MSS from it.
    #[error("TUN MTU {mtu} is below {min}, the smallest IPv4 datagram every host must accept")]
    MtuTooSmall {
        /// The configured MTU.
        mtu: u16,
        /// The smallest accepted MTU.
        min: u16,
    },
    /// `/proc/net/route` has no usable IPv4 default route.
    #[error("no IPv4 default route in /proc/net/route")]
    NoDefaultRoute,
    /// Reading or writing a file (`/proc/sys`, the state file) failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file that should hold an `ip_forward` value holds something else.
    #[error("{path} holds {content:?}, not an ip_forward value")]
    BadIpForwardValue {
        /// The file.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
    /// A firewall tool could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A firewall tool ran and reported failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, for the log.
        command: String,
        /// The exit status as text.
        status: String,
        /// What the tool wrote to stderr.
        stderr: String,
    },
    /// The nftables transaction could not be encoded as JSON.
    #[error("cannot encode the nftables transaction: {0}")]
    EncodeRuleset(#[source] serde_json::Error),
    /// A firewall tool printed something this crate cannot read.
    #[error("unexpected output from {program}: {detail}")]
    BadOutput {
        /// The program.
        program: String,
        /// What was wrong.
        detail: String,
    },
    /// Neither `nft` nor `iptables` is usable on this host.
    #[error("no usable firewall backend: {detail}")]
    NoBackend {
        /// What was tried.
        detail: String,
    },
}

impl From<NftablesError> for NatError {
    fn from(error: NftablesError) -> Self {
        match error {
            NftablesError::NftExecution { program, inner } => NatError::Spawn {
                program: program.to_string_lossy().into_owned(),
                source: inner,
            },
            NftablesError::NftOutputEncoding { program, inner } => NatError::BadOutput {
                program: program.to_string_lossy().into_owned(),
                detail: inner.to_string(),
            },
            NftablesError::NftInvalidJson(inner) => NatError::BadOutput {
                program: "nft".to_owned(),
                detail: inner.to_string(),
            },
            NftablesError::NftFailed {
                program,
                hint,
                stderr,
                ..
            } => NatError::CommandFailed {
                command: format!("{} ({hint})", program.to_string_lossy()),
                status: "non-zero exit".to_owned(),
                stderr: stderr.trim().to_owned(),
            },
        }
    }
}
