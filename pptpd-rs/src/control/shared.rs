//! State every control connection shares: settings, the address pool, call
//! IDs, the data plane, routes, the egress rules, the session count, the live
//! sessions (for the status report) and the shutdown signal.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, TryLockError};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::session_table::SessionTable;
use crate::call_ids::CallIds;
use crate::datapath::DataPlane;
use crate::link_resolver::LinkResolver;
use crate::pool::IpPool;
use crate::routes::Routes;
use crate::secrets::SecretsCache;
use crate::settings::Settings;

/// The installed egress rules (`None` with `nat no`, and after they were removed at exit).
pub type SharedEgress = Arc<Mutex<Option<nat::Egress>>>;

/// Shared by every control-connection task.
pub struct Shared {
    settings: RwLock<Arc<Settings>>,
    pool: Mutex<IpPool>,
    call_ids: Mutex<CallIds>,
    /// The data-path workers.
    pub data: Arc<DataPlane>,
    /// Routes and addresses on the TUN device.
    pub routes: Routes,
    /// Next-hop lookups for sending data as finished frames (`gre-direct yes`).
    pub link_resolver: Option<LinkResolver>,
    /// The last chap-secrets that loaded.
    pub secrets: SecretsCache,
    egress: SharedEgress,
    sessions: AtomicUsize,
    /// The sessions whose link is up (SIGUSR1 logs them).
    pub live: SessionTable,
    /// Cancelled at SIGTERM/SIGINT: every connection says goodbye and ends.
    pub shutdown: CancellationToken,
    /// Tracks the connection tasks, so that shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl Shared {
    /// Assembles the shared state.
    pub fn new(
        settings: Settings,
        pool: IpPool,
        data: Arc<DataPlane>,
        routes: Routes,
        link_resolver: Option<LinkResolver>,
        egress: SharedEgress,
    ) -> Self {
        Self {
            settings: RwLock::new(Arc::new(settings)),
            pool: Mutex::new(pool),
            call_ids: Mutex::new(CallIds::default()),
            data,
            routes,
            link_resolver,
            secrets: SecretsCache::default(),
            egress,
            sessions: AtomicUsize::new(0),
            live: SessionTable::default(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// The settings for a new session.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the settings for sessions that start from now on (SIGHUP).
    pub fn replace_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    /// The address pool.
    pub fn pool(&self) -> MutexGuard<'_, IpPool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the egress rules may have to be extended for a client address
    /// ([`cover_with_egress`](Self::cover_with_egress) would run the firewall tool). Never
    /// waits: while the rules are busy (being checked, installed again or extended, which
    /// runs the firewall tool) the answer is `true`, and `cover_with_egress`, called off the
    /// runtime's thread, waits for them and finds out.
    pub fn egress_may_miss(&self, address: Ipv4Addr) -> bool {
        may_miss(&self.egress, address)
    }

    /// Makes sure the egress rules cover a client address: a static address from
    /// chap-secrets may lie outside the pool and have been added since the rules were
    /// installed (the file is re-read at each login). Runs the firewall tool (milliseconds,
    /// more with iptables) the first time such an address is seen: call it off the runtime's
    /// thread.
    pub fn cover_with_egress(&self, address: Ipv4Addr) {
        let mut egress = self.egress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(egress) = egress.as_mut()
            && let Err(e) = egress.cover(&[address])
        {
            warn!("{address} may not reach the internet: extending the egress rules failed: {e}");
        }
    }

    /// Installs the egress rules again and turns ip_forward back on (SIGHUP): a firewall
    /// reload on the host (`systemctl restart nftables`, `firewall-cmd --reload`) may have
    /// flushed them. Nothing with `nat no`. Runs nft/iptables: call it off the runtime's
    /// thread.
    pub fn reapply_egress(&self) {
        let egress = self.egress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(egress) = egress.as_ref() {
            reapply_logged(egress);
        }
    }

    /// Checks that the egress rules and ip_forward are still in place (`egress-check`) and
    /// installs them again if not. Runs nft/iptables: call it off the runtime's thread.
    pub fn repair_egress(&self) {
        let egress = self.egress.lock().unwrap_or_else(|e| e.into_inner());
        let Some(egress) = egress.as_ref() else {
            return;
        };
        match egress.intact() {
            Ok(true) => {}
            Ok(false) => {
                warn!(
                    "egress rules or ip_forward were changed by someone else (a firewall \
                     reload?): re-installing them"
                );
                reapply_logged(egress);
            }
            Err(e) => warn!("cannot check the egress rules: {e}"),
        }
    }

    /// The call ID registry.
    pub fn call_ids(&self) -> MutexGuard<'_, CallIds> {
        self.call_ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a session slot if fewer than `limit` are in use.
    pub fn try_begin_session(&self, limit: usize) -> bool {
        self.sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a session slot back.
    pub fn end_session(&self) {
        self.sessions.fetch_sub(1, Ordering::AcqRel);
    }

    /// Sessions in progress.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Acquire)
    }
}

/// [`Shared::egress_may_miss`] on the rules behind `egress`: `true` while they are locked.
fn may_miss(egress: &Mutex<Option<nat::Egress>>, address: Ipv4Addr) -> bool {
    let misses = |egress: &Option<nat::Egress>| egress.as_ref().is_some_and(|e| e.misses(address));
    match egress.try_lock() {
        Ok(egress) => misses(&egress),
        Err(TryLockError::Poisoned(poisoned)) => misses(&poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => true,
    }
}

/// [`nat::Egress::reapply`], with its outcome logged.
fn reapply_logged(egress: &nat::Egress) {
    match egress.reapply() {
        Ok(()) => info!("egress rules and ip_forward re-applied"),
        Err(e) => error!("re-applying the egress rules failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_egress_question_never_waits_for_busy_rules() {
        let egress = Mutex::new(None);
        let client = Ipv4Addr::new(10, 77, 0, 5);
        assert!(
            !may_miss(&egress, client),
            "no rules (nat no): nothing to extend"
        );
        let busy = egress.lock().unwrap();
        // Held by this very thread: a blocking lock would never return.
        assert!(
            may_miss(&egress, client),
            "busy rules: ask off the runtime's thread"
        );
        drop(busy);
        assert!(!may_miss(&egress, client));
    }
}
