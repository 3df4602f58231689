//! The daemon's side of CHAP: looks users up in chap-secrets, re-reading the
//! file at every authentication as pppd does, so edits apply without a restart.
//!
//! When the file cannot be read or has a bad line, the last copy that loaded
//! is used and the error is logged: a typo must not lock every user out.

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing::{error, warn};

use crate::config::{ChapSecrets, SecretEntry};

/// The last chap-secrets that loaded, shared by all sessions.
#[derive(Debug, Default)]
pub struct SecretsCache {
    last_good: Mutex<Option<Arc<ChapSecrets>>>,
    last_warnings: Mutex<Vec<String>>,
}

impl SecretsCache {
    /// Reads `path` again; on failure logs and falls back to the last good copy.
    pub fn load(&self, path: &Path) -> Option<Arc<ChapSecrets>> {
        let mut last = self.last_good.lock().unwrap_or_else(|e| e.into_inner());
        match ChapSecrets::load(path) {
            Ok(secrets) => {
                // Each warning once, not at every login.
                let warnings: Vec<String> =
                    secrets.warnings().iter().map(ToString::to_string).collect();
                let mut last_warnings =
                    self.last_warnings.lock().unwrap_or_else(|e| e.into_inner());
                if *last_warnings != warnings {
                    for w in &warnings {
                        warn!("{w}");
                    }
                    *last_warnings = warnings;
                }
                let secrets = Arc::new(secrets);
                *last = Some(secrets.clone());
                Some(secrets)
            }
            Err(e) => {
                error!("{e}; using the last chap-secrets that loaded");
                last.clone()
            }
        }
    }
}

/// What an authentication found: the client's entry and the chap-secrets file it came from.
pub type Found = (SecretEntry, Arc<ChapSecrets>);

/// One authentication's view of the secrets: remembers the entry it found so that
/// the session can assign the address that entry allows.
pub struct SecretsLookup<'a> {
    cache: &'a SecretsCache,
    path: &'a Path,
    server_name: &'a str,
    strip_domain: bool,
    found: RefCell<Option<Found>>,
}

impl<'a> SecretsLookup<'a> {
    /// A lookup against `path` for the server name `server_name` (pppd's `name`).
    pub fn new(
        cache: &'a SecretsCache,
        path: &'a Path,
        server_name: &'a str,
        strip_domain: bool,
    ) -> Self {
        Self {
            cache,
            path,
            server_name,
            strip_domain,
            found: RefCell::new(None),
        }
    }

    /// The entry the last successful lookup found, with the file it came from.
    pub fn take_found(&self) -> Option<Found> {
        self.found.borrow_mut().take()
    }
}

impl ppp_core::Secrets for SecretsLookup<'_> {
    fn password_hash(&self, user: &[u8]) -> Option<[u8; 16]> {
        let secrets = self.cache.load(self.path)?;
        let name = if self.strip_domain {
            user.rsplit(|&b| b == b'\\').next().unwrap_or(user)
        } else {
            user
        };
        let entry = secrets.lookup(name, self.server_name)?;
        let hash = mschap::nt_password_hash(&entry.secret);
        *self.found.borrow_mut() = Some((entry, secrets));
        Some(hash)
    }
}
