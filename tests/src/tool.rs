//! Drives the `netns-tool` helper binary inside namespaces: servers that log the
//! source address of every client (so a test can assert that the internet host saw
//! only the gateway's egress address) and clients that verify every byte.
//!
//! Integration tests of this package get the binary with [`netns_tool!`](crate::netns_tool).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::blob::Blob;
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::{Process, run_checked};

/// How long a server may take to bind and print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `netns-tool` of this package: `netns_tool!()` in an integration test.
#[macro_export]
macro_rules! netns_tool {
    () => {
        $crate::tool::NetnsTool::at(env!("CARGO_BIN_EXE_netns-tool"))
    };
}

/// A `netns-tool` binary.
#[derive(Debug, Clone)]
pub struct NetnsTool {
    path: PathBuf,
}

/// What `netns-tool fetch` or `upload` measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FetchReport {
    /// Bytes received and verified.
    pub bytes: u64,
    /// Seconds from connect to the last byte.
    pub secs: f64,
    /// Throughput in Mbit/s.
    pub mbit_s: f64,
}

/// What `netns-tool udp-check` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpCheckReport {
    /// Datagrams sent.
    pub sent: u32,
    /// Echoes received intact.
    pub received: u32,
    /// Echoes whose content or checksum did not match.
    pub corrupt: u32,
    /// Datagrams without an echo within the timeout.
    pub lost: u32,
    /// Mean round-trip time of the intact echoes, in microseconds.
    pub rtt_us_avg: u64,
}

impl UdpCheckReport {
    /// Every datagram came back intact.
    pub fn passed(&self) -> bool {
        self.received == self.sent && self.corrupt == 0 && self.lost == 0
    }
}

impl NetnsTool {
    /// The binary at `path` (`env!("CARGO_BIN_EXE_netns-tool")`).
    pub fn at(path: impl Into<PathBuf>) -> NetnsTool {
        NetnsTool { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a UDP echo server on `listen` inside `ns`, logging each datagram's source
    /// address to `log`; returns once it is bound.
    pub fn udp_echo(&self, ns: &Netns, listen: SocketAddr, log: &Path) -> Result<Process> {
        let mut cmd = std::process::Command::new(&self.path);
        cmd.arg("udp-echo")
            .args(["--listen", &listen.to_string()])
            .arg("--log")
            .arg(log);
        let process = ns.spawn(cmd)?;
        process.wait_for_line(READY_TIMEOUT, |l| l.starts_with("READY"))?;
        Ok(process)
    }

    /// Starts an HTTP/1.0 server on `listen` inside `ns` that serves `blob` at /blob,
    /// logging each client's address to `log`; returns once it is bound.
    pub fn http_serve(
        &self,
        ns: &Netns,
        listen: SocketAddr,
        blob: Blob,
        log: &Path,
    ) -> Result<Process> {
        let mut cmd = std::process::Command::new(&self.path);
        cmd.arg("http-serve")
            .args(["--listen", &listen.to_string()])
            .args(["--size", &blob.size.to_string()])
            .args(["--seed", &blob.seed.to_string()])
            .arg("--log")
            .arg(log);
        let process = ns.spawn(cmd)?;
        process.wait_for_line(READY_TIMEOUT, |l| l.starts_with("READY"))?;
        Ok(process)
    }

    /// Downloads `url` from inside `ns` (from source address `bind` if given) and
    /// verifies it is exactly `blob`; fails on any difference.
    pub fn fetch(
        &self,
        ns: &Netns,
        url: &str,
        blob: Blob,
        bind: Option<IpAddr>,
    ) -> Result<FetchReport> {
        let mut cmd = ns.command(&self.path);
        cmd.args(["fetch", "--url", url])
            .args(["--expect-size", &blob.size.to_string()])
            .args(["--seed", &blob.seed.to_string()]);
        if let Some(bind) = bind {
            cmd.args(["--bind", &bind.to_string()]);
        }
        transfer_report(&run_checked(cmd)?, "fetch", "FETCH")
    }

    /// Uploads `blob` with HTTP PUT to `url` (an [`http_serve`](Self::http_serve)
    /// server) from inside `ns`; the server verifies every byte and must accept it.
    pub fn upload(&self, ns: &Netns, url: &str, blob: Blob) -> Result<FetchReport> {
        let mut cmd = ns.command(&self.path);
        cmd.args(["upload", "--url", url])
            .args(["--size", &blob.size.to_string()])
            .args(["--seed", &blob.seed.to_string()]);
        transfer_report(&run_checked(cmd)?, "upload", "UPLOAD")
    }

    /// Sends `count` checksummed datagrams of `size` bytes from inside `ns` (from
    /// `bind` if given) to the echo server `to`, one at a time, and reports how many
    /// came back intact. Loss is a report, not an error: check
    /// [`UdpCheckReport::passed`].
    pub fn udp_check(
        &self,
        ns: &Netns,
        to: SocketAddr,
        count: u32,
        size: usize,
        bind: Option<IpAddr>,
    ) -> Result<UdpCheckReport> {
        self.run_udp_check(ns, to, count, size, bind, 1)
    }

    /// [`NetnsTool::udp_check`] in bursts of `burst` datagrams (1..=64) sent back to back, whose
    /// echoes then come back close together: what a download's datagrams look like.
    pub fn udp_check_bursts(
        &self,
        ns: &Netns,
        to: SocketAddr,
        count: u32,
        size: usize,
        burst: u32,
    ) -> Result<UdpCheckReport> {
        self.run_udp_check(ns, to, count, size, None, burst)
    }

    fn run_udp_check(
        &self,
        ns: &Netns,
        to: SocketAddr,
        count: u32,
        size: usize,
        bind: Option<IpAddr>,
        burst: u32,
    ) -> Result<UdpCheckReport> {
        let mut args = vec![
            "udp-check".to_owned(),
            "--to".into(),
            to.to_string(),
            "--count".into(),
            count.to_string(),
            "--size".into(),
            size.to_string(),
            "--burst".into(),
            burst.to_string(),
        ];
        if let Some(bind) = bind {
            args.extend(["--bind".into(), bind.to_string()]);
        }
        let mut cmd = ns.command(&self.path);
        cmd.args(&args);
        // Exit status 1 means "not every echo came back": the report says which.
        let out = cmd.output().map_err(|source| Error::Spawn {
            command: crate::process::describe(&cmd),
            source,
        })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |key: &str| field_of(&text, "UDP-CHECK", key);
        match (
            field("sent"),
            field("received"),
            field("corrupt"),
            field("lost"),
            field("rtt_us_avg"),
        ) {
            (Some(sent), Some(received), Some(corrupt), Some(lost), Some(rtt)) => {
                Ok(UdpCheckReport {
                    sent: parse(&text, sent)?,
                    received: parse(&text, received)?,
                    corrupt: parse(&text, corrupt)?,
                    lost: parse(&text, lost)?,
                    rtt_us_avg: parse(&text, rtt)?,
                })
            }
            _ => Err(Error::CommandFailed {
                command: format!("netns-tool {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
        }
    }
}

/// The `key=value` value on the line starting with `tag` in `text`.
/// The `TAG bytes=.. secs=.. mbit_s=..` line of a transfer by `tool`.
fn transfer_report(out: &str, tool: &str, tag: &str) -> Result<FetchReport> {
    let field = |key: &str| field_of(out, tag, key);
    match (field("bytes"), field("secs"), field("mbit_s")) {
        (Some(bytes), Some(secs), Some(mbit_s)) => Ok(FetchReport {
            bytes: parse(out, bytes)?,
            secs: parse(out, secs)?,
            mbit_s: parse(out, mbit_s)?,
        }),
        _ => Err(bad_output(tool, out)),
    }
}

fn field_of<'a>(text: &'a str, tag: &str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn parse<T: std::str::FromStr>(out: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| bad_output("netns-tool", out))
}

fn bad_output(tool: &str, out: &str) -> Error {
    Error::BadOutput {
        tool: tool.into(),
        output: out.into(),
    }
}

/// The client addresses a server logged, in order (one line per datagram or
/// connection; the first word is the peer's `ip:port`).
pub fn read_peer_log(path: &Path) -> Result<Vec<SocketAddr>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|w| w.parse().map_err(|_| bad_output("peer log", &text)))
        .collect()
}

/// The distinct client IP addresses a server logged.
pub fn peer_ips(path: &Path) -> Result<BTreeSet<IpAddr>> {
    Ok(read_peer_log(path)?.iter().map(SocketAddr::ip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_the_tagged_line() {
        let out = "noise bytes=1\nFETCH bytes=1000 secs=0.5 mbit_s=0.016\n";
        assert_eq!(field_of(out, "FETCH", "bytes"), Some("1000"));
        assert_eq!(field_of(out, "FETCH", "mbit_s"), Some("0.016"));
        assert_eq!(field_of(out, "FETCH", "byte"), None);
        assert_eq!(field_of(out, "UDP-CHECK", "bytes"), None);
    }
}
