//! Start-up, running and shutdown of the gateway: `pptpd-rs -c pptpd.conf`.
//!
//! Start: read and check every file; create the TUN device (one queue per
//! worker) and give it the local addresses; install forwarding, masquerade and
//! MSS clamping (cleaning leftovers of a crashed run first); start the data
//! path; listen on TCP 1723. SIGHUP reloads the files for new sessions and re-installs
//! the egress rules; SIGUSR1 logs the live sessions.
//! SIGTERM/SIGINT: every client is told (LCP Terminate-Request, CDN, StopCCRQ),
//! then the rules are removed and the process exits 0 within 5 s.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use sd_notify::NotifyState;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::cli::Args;
use crate::config::{ChapSecrets, Config, FirewallBackend, Overrides};
use crate::control::{self, Shared, SharedEgress};
use crate::datapath::{Command, DataPlane, tun_device};
use crate::link_resolver::LinkResolver;
use crate::pool::IpPool;
use crate::routes::Routes;
use crate::settings::Settings;
use crate::state_dir;

/// The PPTP control port (RFC 2637 §2).
pub const PPTP_PORT: u16 = 1723;
/// How long shutdown waits for clients to be told before it removes the rules anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_millis(4000);

/// The program: parses the command line, runs, and returns the exit status.
pub fn main() -> ExitCode {
    let args = Args::parse();
    crate::logging::init(args.debug);
    unblock_signals();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &Args) -> Result<Config> {
    let overrides = Overrides {
        chap_secrets: args.chap_secrets.clone(),
        debug: args.debug,
    };
    let (config, warnings) = Config::load(&args.config, &overrides)?;
    for w in warnings {
        warn!("{w}");
    }
    Ok(config)
}

fn run(args: &Args) -> Result<()> {
    // Config::load already reported the secrets file's warnings.
    let config = load(args)?;
    let secrets = ChapSecrets::load(&config.chap_secrets)?;
    let nat_config = egress_config(&config, &secrets)?;
    if args.check {
        print_check(&config, &secrets, nat_config.as_ref());
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "pptpd-rs must run as root (it creates a TUN device, a raw GRE socket and firewall rules)"
        );
    }
    raise_open_files_limit();
    // Our signal handlers go in before anything needs undoing: a SIGTERM that arrives while
    // the rules are being installed is then answered by a clean shutdown, not by the
    // default action that would leave them behind.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = {
        let _context = runtime.enter();
        Signals::register()?
    };
    let workers = match config.pptpd.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    };
    let mtu = Settings::tun_mtu(&config);
    let offload = config.pptpd.tun_offload;
    let tun_queues = tun_device::create(&config.pptpd.tun, mtu, workers, offload)?;
    info!(
        "TUN device {} up, MTU {mtu}, {workers} queue(s), offload {}",
        config.pptpd.tun,
        if offload { "on" } else { "off" }
    );

    let egress = match &nat_config {
        Some(nat) => {
            // `install` logs the plan and any chain of the host that would drop our traffic.
            Some(nat::Egress::install(nat).context("installing forwarding and NAT")?)
        }
        None => {
            warn!("nat no: forwarding and NAT are left to the operator");
            None
        }
    };
    let egress: SharedEgress = Arc::new(Mutex::new(egress));

    let data = Arc::new(
        DataPlane::start(tun_queues, config.pptpd.listen, config.pptpd.gre_direct)
            .context("starting the GRE data path")?,
    );
    let result = runtime.block_on(serve(args, config, data.clone(), egress.clone(), signals));
    data.stop();
    let installed = egress.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(egress) = installed
        && let Err(e) = egress.remove()
    {
        warn!("removing the egress rules: {e}");
    }
    state_dir::remove_base_if_empty(Path::new(nat::DEFAULT_STATE_DIR));
    result
}

/// SIGTERM, SIGINT, SIGHUP and SIGUSR1, registered with the runtime.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside a runtime context); signals from now on are kept.
    fn register() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

async fn serve(
    args: &Args,
    config: Config,
    data: Arc<DataPlane>,
    egress: SharedEgress,
    mut signals: Signals,
) -> Result<()> {
    let routes = Routes::connect(&config.pptpd.tun).await?;
    let link_resolver = data
        .direct()
        .then(|| LinkResolver::with_handle(routes.handle()));
    for &local in config.pptpd.localip.addresses() {
        routes
            .add_local_address(local)
            .await
            .with_context(|| format!("adding {local} to the TUN device"))?;
    }
    let listen = SocketAddrV4::new(
        config.pptpd.listen.unwrap_or(Ipv4Addr::UNSPECIFIED),
        PPTP_PORT,
    );
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let pidfile = PidFile::create(&config.pidfile);

    let pool = IpPool::from_config(&config.pptpd);
    info!(
        "pptpd-rs {} listening on {listen}: {} addresses for clients, local {:?}",
        env!("CARGO_PKG_VERSION"),
        pool.capacity(),
        config.pptpd.localip.addresses()
    );
    let shared = Arc::new(Shared::new(
        Settings::from_config(&config),
        pool,
        data,
        routes,
        link_resolver,
        egress,
    ));
    if shared.link_resolver.is_some()
        && let Err(e) = watch_link_changes(&shared)
    {
        // The periodic lookups still catch every change, only later.
        warn!(
            "cannot subscribe to netlink route, neighbour and IPsec changes ({e}): next-hop \
             changes are noticed at each session's next lookup (every 20 s)"
        );
    }
    let listener_task = tokio::spawn(control::serve(listener, shared.clone()));
    notify_service_manager(&[
        NotifyState::Ready,
        NotifyState::Status(&format!("listening on {listen}")),
    ]);
    let mut egress_check = (config.pptpd.nat && config.pptpd.egress_check > 0).then(|| {
        let period = Duration::from_secs(u64::from(config.pptpd.egress_check));
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });

    loop {
        tokio::select! {
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
            _ = signals.hup.recv() => {
                reload(args, &shared);
                let shared = shared.clone();
                let _ = tokio::task::spawn_blocking(move || shared.reapply_egress()).await;
            }
            _ = signals.usr1.recv() => report_status(&shared),
            () = next_tick(&mut egress_check) => {
                let shared = shared.clone();
                let _ = tokio::task::spawn_blocking(move || shared.repair_egress()).await;
            }
        }
    }
    info!("shutting down: telling {} client(s)", shared.sessions());
    notify_service_manager(&[NotifyState::Stopping]);
    shared.shutdown.cancel();
    shared.tracker.close();
    if tokio::time::timeout(SHUTDOWN_WAIT, shared.tracker.wait())
        .await
        .is_err()
    {
        warn!("some clients did not answer in time");
    }
    let _ = listener_task.await;
    drop(pidfile);
    Ok(())
}

/// `gre-direct`: sends the sessions whose frames a kernel change may have made wrong (a next
/// hop that moved, a route, a device) back to the IP stack as the change comes, instead of at
/// their next periodic lookup.
fn watch_link_changes(shared: &Arc<Shared>) -> std::io::Result<()> {
    let policies = shared
        .link_resolver
        .as_ref()
        .map(|r| r.ipsec_policies().clone())
        .unwrap_or_default();
    let shared = Arc::downgrade(shared);
    crate::link_watch::spawn(policies, move |change| {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let moved = shared.live.apply_link_change(change, |call_id| {
            shared.data.send(
                call_id,
                Command::SetLinkRoute {
                    call_id,
                    route: None,
                },
            );
        });
        if !moved.is_empty() {
            info!(
                "{change}: the data of {} session(s) leaves through the IP stack until their next lookup",
                moved.len()
            );
        }
    })
}

/// Tells systemd (`Type=notify`: `$NOTIFY_SOCKET`) how the service is doing; nothing when
/// not started by it.
fn notify_service_manager(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!("cannot notify the service manager: {e}");
    }
}

/// The next tick of an optional interval; never, without one.
async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// SIGUSR1: logs the sessions whose link is up, one line each (user, addresses, time,
/// traffic), and how many pool addresses are left.
fn report_status(shared: &Shared) {
    for line in shared.live.report(std::time::Instant::now()) {
        info!("{line}");
    }
    let pool = shared.pool();
    info!(
        "status: {} of {} pool addresses free",
        pool.available(),
        pool.capacity()
    );
}

/// A parent may start us with signals blocked (the mask is inherited across exec): SIGTERM,
/// SIGINT, SIGHUP and SIGUSR1 must reach our handlers, or a stop request would wait forever.
fn unblock_signals() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ] {
        set.add(signal);
    }
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None) {
        warn!("cannot unblock SIGTERM/SIGINT/SIGHUP/SIGUSR1: {e}");
    }
}

/// Each session holds a TCP connection: lift the soft limit on open files to the hard one
/// so that `connections` in the thousands is not cut short at 1024.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err()
    {
        warn!("cannot raise the open-files limit from {soft} to {hard}");
    }
}

/// SIGHUP: re-reads the files; new sessions use them, live sessions are left alone. (The
/// egress rules are installed again beside it: [`Shared::reapply_egress`].)
fn reload(args: &Args, shared: &Shared) {
    match load(args) {
        Ok(config) => {
            shared.replace_settings(Settings::from_config(&config));
            info!(
                "reloaded {}: new sessions use the new settings",
                args.config.display()
            );
        }
        Err(e) => error!("reload failed, keeping the old settings: {e:#}"),
    }
}

/// The egress plan's input, or `None` with `nat no`.
fn egress_config(config: &Config, secrets: &ChapSecrets) -> Result<Option<nat::EgressConfig>> {
    if !config.pptpd.nat {
        return Ok(None);
    }
    let egress_interface = match &config.pptpd.egress {
        Some(name) => name.clone(),
        None => nat::default_route_interface()
            .context("finding the egress interface (no default route? set `egress IFACE`)")?,
    };
    let mut addresses: Vec<Ipv4Addr> = config.pptpd.remoteip.clone();
    addresses.extend(secrets.static_addresses());
    let mut nat = nat::EgressConfig::new(
        nat::ranges_to_prefixes(&ranges(addresses)),
        egress_interface,
    );
    nat.tun_interface = config.pptpd.tun.clone();
    nat.snat_to = config.pptpd.snat_to;
    nat.tun_mtu = Settings::tun_mtu(config);
    nat.state_dir = state_dir::for_this_netns(Path::new(nat::DEFAULT_STATE_DIR));
    nat.backend = match config.pptpd.firewall {
        FirewallBackend::Auto => nat::BackendChoice::Auto,
        FirewallBackend::Nftables => nat::BackendChoice::Nftables,
        FirewallBackend::Iptables => nat::BackendChoice::Iptables,
    };
    Ok(Some(nat))
}

/// Sorted, merged runs of consecutive addresses.
fn ranges(mut addresses: Vec<Ipv4Addr>) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    addresses.sort_unstable();
    addresses.dedup();
    let mut out: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
    for a in addresses {
        match out.last_mut() {
            Some((_, end)) if u32::from(*end).checked_add(1) == Some(u32::from(a)) => *end = a,
            _ => out.push((a, a)),
        }
    }
    out
}

fn print_check(config: &Config, secrets: &ChapSecrets, nat: Option<&nat::EgressConfig>) {
    let pool = IpPool::from_config(&config.pptpd);
    println!("configuration OK: {}", config_path_display(config));
    println!(
        "  listen      {}:{PPTP_PORT}",
        config.pptpd.listen.unwrap_or(Ipv4Addr::UNSPECIFIED)
    );
    println!("  localip     {:?}", config.pptpd.localip.addresses());
    println!("  pool        {} addresses", pool.capacity());
    println!("  connections {}", config.pptpd.connections);
    println!(
        "  tun         {} (MTU {})",
        config.pptpd.tun,
        Settings::tun_mtu(config)
    );
    println!("  name        {}", config.ppp.name);
    println!("  mppe        {}", config.ppp.mppe);
    println!(
        "  secrets     {} ({} entries)",
        config.chap_secrets.display(),
        secrets.len()
    );
    match nat {
        Some(nat) => match nat::EgressPlan::new(nat, nat::Backend::Nftables) {
            Ok(plan) => {
                for line in plan.describe() {
                    println!("  egress      {line}");
                }
                match config.pptpd.egress_check {
                    0 => println!("  egress      not re-checked (egress-check 0)"),
                    secs => println!("  egress      re-checked every {secs} s"),
                }
            }
            Err(e) => println!("  egress      invalid: {e}"),
        },
        None => println!("  egress      nat no"),
    }
}

fn config_path_display(config: &Config) -> String {
    config
        .options_file
        .as_deref()
        .map_or_else(|| "-".into(), |p| p.display().to_string())
}

/// The PID file (poptop's `pidfile`), removed when dropped.
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn create(path: &Path) -> Self {
        match std::fs::write(path, format!("{}\n", std::process::id())) {
            Ok(()) => PidFile(Some(path.to_path_buf())),
            Err(e) => {
                warn!("cannot write {}: {e}", path.display());
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}
