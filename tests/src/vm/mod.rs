//! The stock client in a qemu guest: pptp-linux + pppd on a Debian kernel with PPP,
//! set up exactly as the operator guide's client (`pptpsetup --create test --server S
//! --username U --password P --encrypt`, `pppd call test`, the routes).
//!
//! [`guest_dir`] builds the guest once per test process (`tests/vm/build-guest.sh`,
//! cached across runs); [`ClientVm::boot`] starts `tests/vm/client-vm.sh` on a TAP
//! device inside a namespace; [`GuestReport`] is the parsed console: one
//! [`GuestCheck`] per `GUEST-CHECK name ok|fail detail` line, the final
//! `GUEST-RESULT`, and pppd's debug log. qemu is killed when the [`ClientVm`] drops.

mod config;
mod report;

pub use config::{ClientVmConfig, Expect, MppeRequirement, SecondConnection, SecondLogin};
pub use report::{GuestCheck, GuestReport};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::netns::{process_alive, scratch_prefix};
use crate::process::Process;

/// The directory of the guest scripts (`tests/vm`).
pub const VM_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vm");

/// Builds the guest if needed (once per process; the script caches across runs in
/// `$PPTP_GUEST_DIR` or `~/.cache/pptpd-rs-guest` and rebuilds when the scripts
/// change) and returns the directory holding the kernel (`vmlinuz`, `vmlinux`) and the
/// client and server initramfs images.
pub fn guest_dir() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(Path::new(VM_DIR).join("build-guest.sh"))
            .output()
            .map_err(|e| format!("bash build-guest.sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().unwrap_or_default().trim();
        if out.status.success() && !dir.is_empty() {
            Ok(PathBuf::from(dir))
        } else {
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    })
    .clone()
    .map_err(Error::GuestBuild)
}

/// A running guest. Dropping it kills qemu.
#[derive(Debug)]
pub struct ClientVm {
    process: Process,
    started: Instant,
    timeout: Duration,
    pidfile: tempfile::TempPath,
}

impl ClientVm {
    /// Builds the guest if needed and boots it; returns while it runs.
    pub fn boot(config: &ClientVmConfig) -> Result<ClientVm> {
        let guest = guest_dir()?;
        let pidfile = qemu_pidfile()?;
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(VM_DIR).join("client-vm.sh"))
            .args(config.args()?)
            .arg("--guest")
            .arg(&guest)
            .arg("--pidfile")
            .arg(&*pidfile)
            // The script's own limit is a backstop; ClientVm::wait enforces `timeout`.
            .args(["--timeout", &(config.timeout.as_secs() + 10).to_string()]);
        let process = Process::spawn(&format!("client-vm on {}", config.tap), cmd)?;
        Ok(ClientVm {
            process,
            started: Instant::now(),
            timeout: config.timeout,
            pidfile,
        })
    }

    /// Boots the guest, waits for its result and returns the report.
    pub fn run(config: &ClientVmConfig) -> Result<GuestReport> {
        ClientVm::boot(config)?.wait()
    }

    /// qemu's process ID, once qemu has written its pid file.
    pub fn qemu_pid(&self) -> Option<u32> {
        read_pid(&self.pidfile)
    }

    /// Waits up to `timeout` for the check `name` (e.g. "connect") and returns it,
    /// while the guest keeps running: lets a test look at the gateway while the
    /// link is up (see [`ClientVmConfig::hold`]).
    pub fn wait_for_check(&self, name: &str, timeout: Duration) -> Result<GuestCheck> {
        let line = self.process.wait_for_line(timeout, |l| {
            GuestCheck::parse(l).is_some_and(|c| c.name == name)
        })?;
        GuestCheck::parse(&line).ok_or_else(|| Error::BadOutput {
            tool: "client-vm".into(),
            output: line,
        })
    }

    /// Waits up to `timeout` for a console line that satisfies `pred` (e.g. one that
    /// contains `GUEST-INFO holding`) and returns it.
    pub fn wait_for_console_line(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        self.process.wait_for_line(timeout, pred)
    }

    /// The console so far.
    pub fn console(&self) -> Vec<String> {
        self.process.stdout_lines()
    }

    /// Waits until the guest powers off or the configured timeout passes (then kills
    /// qemu and marks the report `timed_out`), and parses the console.
    pub fn wait(mut self) -> Result<GuestReport> {
        let left = self.timeout.saturating_sub(self.started.elapsed());
        let status = self.process.wait_timeout(left)?;
        let timed_out = status.is_none();
        if timed_out {
            self.process.kill();
        }
        let mut console = self.process.stdout_lines();
        console.extend(
            self.process
                .stderr_lines()
                .into_iter()
                .map(|l| format!("stderr: {l}")),
        );
        let mut report = GuestReport::parse(&console);
        report.elapsed = self.started.elapsed();
        report.timed_out = timed_out;
        report.exit_code = status.and_then(|s| s.code());
        Ok(report)
    }
}

impl Drop for ClientVm {
    fn drop(&mut self) {
        self.process.kill();
        kill_stray_qemu(&self.pidfile);
    }
}

/// A fresh, empty file for qemu's `-pidfile`, removed on drop.
pub(crate) fn qemu_pidfile() -> Result<tempfile::TempPath> {
    Ok(tempfile::Builder::new()
        .prefix(&format!("{}qemu-", scratch_prefix()))
        .suffix(".pid")
        .tempfile()
        .map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?
        .into_temp_path())
}

/// The pid in a pid file, if it holds one.
pub(crate) fn read_pid(pidfile: &Path) -> Option<u32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Kills the qemu of `pidfile` if it still runs. Killing the script's process group
/// stops qemu; this is for a qemu that left the group somehow.
pub(crate) fn kill_stray_qemu(pidfile: &Path) {
    if let Some(pid) = read_pid(pidfile)
        && process_alive(pid)
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.starts_with("qemu"))
        && let Ok(pid) = i32::try_from(pid)
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
