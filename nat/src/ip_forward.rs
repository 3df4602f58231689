//! `net.ipv4.ip_forward`: switched on at install, put back at removal, and put back after a
//! crash from a state file.
//!
//! Semantics:
//! - **install**: if the state file exists, a previous run died without restoring: its content
//!   is the host's true original value, and the current `1` is that run's leftover. We adopt the
//!   recorded value as our original (the same outcome as "restore it, then snapshot again", but
//!   without switching forwarding off and on, which disturbs forwarded traffic and, per the
//!   kernel documentation, "resets all configuration parameters to their default state").
//!   Otherwise we read the current value and write it to the state file *before* changing
//!   anything, so that a crash at any later point can be undone.
//! - **remove**: write the original back (only if it differs) and delete the state file.
//! - **stale cleanup** ([`crate::cleanup_stale`]): if the state file exists, write its value
//!   back and delete it.
//!
//! The value is only written when it differs from what we want: writing `ip_forward` has side
//! effects even when the value stays the same (the reset above). The state file belongs on tmpfs
//! (`/run`): a reboot forgets it together with the runtime `ip_forward` value. Changes the
//! operator makes to `ip_forward` while we run are undone at removal. One installer per network
//! namespace (and per state file) at a time.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::config::EgressConfig;
use crate::error::NatError;

/// The sysctl, per network namespace.
pub const IP_FORWARD_SYSCTL: &str = "/proc/sys/net/ipv4/ip_forward";

/// The sysctl file and the state file that records its original value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpForward {
    sysctl: PathBuf,
    state: PathBuf,
}

impl IpForward {
    /// Manages `sysctl` (normally [`IP_FORWARD_SYSCTL`]) with the record kept in `state`.
    pub(crate) fn new(sysctl: impl Into<PathBuf>, state: impl Into<PathBuf>) -> Self {
        IpForward {
            sysctl: sysctl.into(),
            state: state.into(),
        }
    }

    /// The real sysctl and the configuration's state file.
    pub(crate) fn for_config(config: &EgressConfig) -> Self {
        IpForward::new(IP_FORWARD_SYSCTL, config.ip_forward_state_path())
    }

    /// Turns forwarding on; returns the value to restore later (see the module documentation).
    pub(crate) fn enable(&self) -> Result<bool, NatError> {
        let original = match self.recorded()? {
            Some(recorded) => {
                tracing::info!(
                    path = %self.state.display(),
                    recorded,
                    "ip_forward state of a previous run found; keeping its original value"
                );
                recorded
            }
            None => {
                let current = self.current()?;
                self.record(current)?;
                current
            }
        };
        if !self.current()? {
            write_value(&self.sysctl, true)?;
        }
        Ok(original)
    }

    /// Puts `original` back and deletes the state file.
    pub(crate) fn restore(&self, original: bool) -> Result<(), NatError> {
        if self.current()? != original {
            write_value(&self.sysctl, original)?;
        }
        self.forget()
    }

    /// After a crash: puts the recorded value back and deletes the state file; `true` when there
    /// was a record.
    pub(crate) fn restore_recorded(&self) -> Result<bool, NatError> {
        match self.recorded()? {
            Some(original) => {
                self.restore(original)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The sysctl's current value.
    pub(crate) fn current(&self) -> Result<bool, NatError> {
        read_value(&self.sysctl)
    }

    /// The value in the state file, if there is one. A file that does not hold a value (cut
    /// short, edited) cannot tell us anything: it is logged and deleted.
    fn recorded(&self) -> Result<Option<bool>, NatError> {
        match read_value(&self.state) {
            Ok(value) => Ok(Some(value)),
            Err(NatError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(error @ NatError::BadIpForwardValue { .. }) => {
                tracing::warn!(%error, "ignoring unreadable ip_forward state file");
                self.forget()?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Writes the state file atomically (temporary file, fsync, rename).
    fn record(&self, original: bool) -> Result<(), NatError> {
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| NatError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = self.state.parent() {
            fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        let mut temporary = self.state.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = fs::File::create(&temporary).map_err(io("create", &temporary))?;
        file.write_all(if original { b"1\n" } else { b"0\n" })
            .and_then(|()| file.sync_all())
            .map_err(io("write", &temporary))?;
        fs::rename(&temporary, &self.state).map_err(io("rename", &self.state))
    }

    /// Deletes the state file (absent is fine), and its directory if nothing else is in it
    /// (the daemon keeps one per network namespace: they would pile up in /run).
    fn forget(&self) -> Result<(), NatError> {
        match fs::remove_file(&self.state) {
            Err(source) if source.kind() != ErrorKind::NotFound => Err(NatError::Io {
                action: "remove",
                path: self.state.clone(),
                source,
            }),
            _ => {
                // Fails, harmlessly, when the directory still holds something.
                if let Some(dir) = self.state.parent() {
                    let _ = fs::remove_dir(dir);
                }
                Ok(())
            }
        }
    }
}

/// Reads `0`/`1` (any integer; non-zero is on, as the kernel reads it).
fn read_value(path: &Path) -> Result<bool, NatError> {
    let text = fs::read_to_string(path).map_err(|source| NatError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    text.trim()
        .parse::<u32>()
        .map(|value| value != 0)
        .map_err(|_| NatError::BadIpForwardValue {
            path: path.to_owned(),
            content: text.chars().take(32).collect(),
        })
}

fn write_value(path: &Path, on: bool) -> Result<(), NatError> {
    tracing::info!(path = %path.display(), value = u8::from(on), "setting ip_forward");
    fs::write(path, if on { "1\n" } else { "0\n" }).map_err(|source| NatError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysctl file and a state path in a temporary directory.
    struct Fixture {
        _dir: tempfile::TempDir,
        sysctl: PathBuf,
        state: PathBuf,
    }

    impl Fixture {
        fn new(initial: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let sysctl = dir.path().join("ip_forward");
            fs::write(&sysctl, initial).unwrap();
            let state = dir.path().join("run/pptpd-rs/ip_forward.orig");
            Fixture {
                _dir: dir,
                sysctl,
                state,
            }
        }

        fn forward(&self) -> IpForward {
            IpForward::new(&self.sysctl, &self.state)
        }

        fn sysctl(&self) -> String {
            fs::read_to_string(&self.sysctl).unwrap()
        }

        fn state(&self) -> Option<String> {
            fs::read_to_string(&self.state).ok()
        }
    }

    #[test]
    fn enable_records_then_switches_on_and_restore_puts_back() {
        let fx = Fixture::new("0\n");
        let original = fx.forward().enable().unwrap();
        assert!(!original);
        assert_eq!(fx.sysctl(), "1\n");
        assert_eq!(fx.state().as_deref(), Some("0\n"));
        fx.forward().restore(original).unwrap();
        assert_eq!(fx.sysctl(), "0\n");
        assert_eq!(fx.state(), None);
        assert!(
            !fx.state.parent().unwrap().exists(),
            "the empty state directory is gone"
        );
    }

    #[test]
    fn already_on_is_left_alone() {
        let fx = Fixture::new("1\n");
        // Mark the file so that a rewrite (even of the same value) would show.
        fs::write(&fx.sysctl, "1").unwrap();
        let original = fx.forward().enable().unwrap();
        assert!(original);
        assert_eq!(fx.sysctl(), "1", "no write when the value is already right");
        fx.forward().restore(original).unwrap();
        assert_eq!(fx.sysctl(), "1");
        assert_eq!(fx.state(), None);
    }

    #[test]
    fn crash_then_start_adopts_the_recorded_original() {
        let fx = Fixture::new("0\n");
        // First run: enable, then "crash" (no restore).
        let first = fx.forward().enable().unwrap();
        assert!(!first);
        fs::write(&fx.sysctl, "1").unwrap();
        // Second run: must not mistake the leftover 1 for the original, nor toggle it.
        let second = fx.forward().enable().unwrap();
        assert!(!second);
        assert_eq!(fx.sysctl(), "1", "no off/on flap");
        assert_eq!(fx.state().as_deref(), Some("0\n"));
        fx.forward().restore(second).unwrap();
        assert_eq!(fx.sysctl(), "0\n");
    }

    #[test]
    fn stale_cleanup_restores_and_forgets() {
        let fx = Fixture::new("0\n");
        fx.forward().enable().unwrap();
        assert!(fx.forward().restore_recorded().unwrap());
        assert_eq!(fx.sysctl(), "0\n");
        assert_eq!(fx.state(), None);
        assert!(
            !fx.forward().restore_recorded().unwrap(),
            "nothing left to restore"
        );
        assert_eq!(fx.sysctl(), "0\n");
    }

    #[test]
    fn a_state_directory_with_other_files_stays() {
        let fx = Fixture::new("0\n");
        let original = fx.forward().enable().unwrap();
        let other = fx.state.with_file_name("other");
        fs::write(&other, "x").unwrap();
        fx.forward().restore(original).unwrap();
        assert_eq!(fx.state(), None);
        assert!(other.exists());
    }

    #[test]
    fn corrupt_state_file_is_dropped_not_trusted() {
        let fx = Fixture::new("1\n");
        fs::create_dir_all(fx.state.parent().unwrap()).unwrap();
        fs::write(&fx.state, "garbage").unwrap();
        assert!(!fx.forward().restore_recorded().unwrap());
        assert_eq!(fx.state(), None);
        assert_eq!(fx.sysctl(), "1\n", "unchanged: the record told us nothing");
    }

    #[test]
    fn unreadable_sysctl_is_an_error() {
        let fx = Fixture::new("1\n");
        fs::write(&fx.sysctl, "on").unwrap();
        assert!(matches!(
            fx.forward().enable(),
            Err(NatError::BadIpForwardValue { .. })
        ));
        let missing = IpForward::new(fx.sysctl.with_file_name("absent"), &fx.state);
        assert!(matches!(
            missing.enable(),
            Err(NatError::Io { action: "read", .. })
        ));
    }
}
