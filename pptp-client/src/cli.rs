//! `pptp-client`: connects to a PPTP server the way pptp-linux + pppd do, prints one
//! machine-readable line per milestone on standard output, optionally bridges the tunnel to a
//! TUN device, holds it, and hangs up cleanly on SIGTERM/SIGINT or when the hold ends.
//!
//! ```text
//! pptp-client --server 10.100.100.1 --user root --password 123456 [--tun tclient0]
//!             [--route 198.51.100.0/24 ...] [--hold SECS | --until-signal]
//!             [--expect-auth-failure] [--mppe 128|56|40|none] [-v]
//! pptp-client --server 10.100.100.1 --user root --password 123456 --sessions N --concurrency C
//! ```
//!
//! Lines printed (standard output, one each, flushed at once):
//! `PPTP-CLIENT up local=A peer=B ...`, `PPTP-CLIENT auth-failed message="..."`,
//! `PPTP-CLIENT failed error="..."`, `PPTP-CLIENT tun name=N mtu=M`,
//! `PPTP-CLIENT down reason=... (what each side sent)`, and in the load mode
//! `PPTP-CLIENT sessions up=N failed=F secs=T rate=R/s` then
//! `PPTP-CLIENT sessions down clean=C unclean=U server-closed=S secs=T`.
//! Exit status: 0 when things went as asked, 1 when they did not, 2 for a usage error.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{
    BridgeConfig, ClientError, Closure, ConnectOptions, GreMux, RoutePrefix, TunBridge, Tunnel,
};
use anyhow::Context;
use clap::{ArgAction, Parser, ValueEnum};
use ppp_core::MppePolicy;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// A userspace PPTP client (pptp-linux + pppd compatible) for pptpd-rs's tests.
#[derive(Debug, Parser)]
#[command(name = "pptp-client", version)]
struct Cli {
    /// The PPTP server's address.
    #[arg(long)]
    server: Ipv4Addr,
    /// The server's control port.
    #[arg(long, default_value_t = 1723)]
    port: u16,
    /// The user name.
    #[arg(long)]
    user: String,
    /// The password.
    #[arg(long)]
    password: String,
    /// Create this TUN device (like ppp0) and forward IPv4 through the tunnel.
    #[arg(long, conflicts_with = "sessions")]
    tun: Option<String>,
    /// Route this prefix through the tunnel (with --tun); may be repeated.
    #[arg(long = "route", requires = "tun", value_name = "PREFIX")]
    routes: Vec<RoutePrefix>,
    /// Hold the tunnel this many seconds, then hang up.
    #[arg(long, value_name = "SECS", conflicts_with = "until_signal")]
    hold: Option<f64>,
    /// Hold until SIGTERM or SIGINT, then hang up (the default).
    #[arg(long)]
    until_signal: bool,
    /// Succeed only if the server refuses the password.
    #[arg(long)]
    expect_auth_failure: bool,
    /// MPPE to require.
    #[arg(long, value_enum, default_value = "128")]
    mppe: MppeArg,
    /// Seconds to come up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    timeout: f64,
    /// Send LCP Echo-Requests every 30 s (the server's are always answered).
    #[arg(long)]
    echo: bool,
    /// Load mode: open this many tunnels (separate TCP connections, one GRE socket).
    #[arg(long, value_name = "N")]
    sessions: Option<usize>,
    /// Load mode: connection attempts in flight at once.
    #[arg(long, value_name = "C", default_value_t = 16, requires = "sessions")]
    concurrency: usize,
    /// More logging on standard error (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
}

/// The `--mppe` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MppeArg {
    /// `require-mppe-128`.
    #[value(name = "128")]
    Bits128,
    /// `require-mppe-56`.
    #[value(name = "56")]
    Bits56,
    /// `require-mppe-40`.
    #[value(name = "40")]
    Bits40,
    /// `nomppe`: no CCP, IPv4 in cleartext.
    #[value(name = "none")]
    None,
}

impl MppeArg {
    fn policy(self) -> MppePolicy {
        let only = |allow_128, allow_56, allow_40| MppePolicy {
            required: true,
            allow_128,
            allow_56,
            allow_40,
            allow_stateful: false,
        };
        match self {
            MppeArg::Bits128 => MppePolicy::require_128(),
            MppeArg::Bits56 => only(false, true, false),
            MppeArg::Bits40 => only(false, false, true),
            MppeArg::None => MppePolicy::disabled(),
        }
    }
}

/// Prints one line on standard output and flushes it.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "PPTP-CLIENT {line}");
    let _ = out.flush();
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("bad {what}: {value}"))
}

/// The `pptp-client` program: parses the command line, runs, returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            say(&format!("failed error={:?}", error.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.sessions {
            Some(count) => run_load(&cli, count).await,
            None => run_single(&cli).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            say(&format!("failed error={:?}", format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn connect_options(cli: &Cli) -> anyhow::Result<ConnectOptions> {
    let server = SocketAddrV4::new(cli.server, cli.port);
    let mut options = ConnectOptions::new(server, &cli.user, &cli.password);
    options.mppe = cli.mppe.policy();
    options.timeout = seconds(cli.timeout, "--timeout")?;
    options.echo = cli.echo;
    Ok(options)
}

/// Why the hold ended.
enum HoldEnd {
    /// The hold time passed.
    Elapsed,
    /// A signal arrived.
    Signal(&'static str),
    /// The server ended the tunnel.
    Server(Closure),
}

/// Waits for the hold to end: its time, SIGTERM/SIGINT, or (with `closed`) the server.
async fn hold(
    cli: &Cli,
    closed: impl std::future::Future<Output = Closure>,
) -> anyhow::Result<HoldEnd> {
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let limit = match cli.hold {
        Some(secs) => Some(seconds(secs, "--hold")?),
        None => None,
    };
    let elapsed = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    Ok(tokio::select! {
        () = elapsed => HoldEnd::Elapsed,
        _ = terminate.recv() => HoldEnd::Signal("TERM"),
        _ = interrupt.recv() => HoldEnd::Signal("INT"),
        closure = closed => HoldEnd::Server(closure),
    })
}

/// One tunnel: connect, report, bridge, hold, hang up.
async fn run_single(cli: &Cli) -> anyhow::Result<ExitCode> {
    let options = connect_options(cli)?;
    let mux = GreMux::open().context("cannot open the raw GRE socket (root needed)")?;
    let mut tunnel = match Tunnel::connect(&mux, &options).await {
        Ok(tunnel) => tunnel,
        Err(ClientError::AuthFailed { message, closure }) => {
            say(&format!("auth-failed message={message:?}"));
            say(&format!("down {closure}"));
            return Ok(if cli.expect_auth_failure {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Err(error) => {
            say(&format!("failed error={:?}", error.to_string()));
            return Ok(ExitCode::FAILURE);
        }
    };
    let info = tunnel.info();
    let dns: Vec<String> = info.dns.iter().flatten().map(ToString::to_string).collect();
    say(&format!(
        "up local={} peer={} dns={} mtu={} call-id={} peer-call-id={} mppe={}",
        info.local,
        info.peer,
        if dns.is_empty() {
            "-".into()
        } else {
            dns.join(",")
        },
        info.mtu,
        info.call_id.0,
        info.peer_call_id.0,
        match info.mppe {
            Some(mppe) => format!("{}", mppe.strength.key_len() * 8),
            None => "none".into(),
        }
    ));
    if cli.expect_auth_failure {
        let closure = tunnel.hang_up().await;
        say(&format!("down {closure}"));
        return Ok(ExitCode::FAILURE);
    }
    let (end, closure) = match &cli.tun {
        Some(name) => {
            let config = BridgeConfig {
                name: name.clone(),
                routes: cli.routes.clone(),
                mtu: None,
            };
            let mut bridge = match TunBridge::start(tunnel, config).await {
                Ok(bridge) => bridge,
                Err(error) => {
                    say(&format!("failed error={:?}", error.to_string()));
                    return Ok(ExitCode::FAILURE);
                }
            };
            say(&format!("tun name={} mtu={}", bridge.name(), info.mtu));
            let end = hold(cli, bridge.closed()).await?;
            let stats = bridge.stats();
            tracing::info!(?stats, "bridge counters");
            let closure = match &end {
                HoldEnd::Server(closure) => closure.clone(),
                _ => bridge.hang_up().await,
            };
            (end, closure)
        }
        None => {
            let end = hold(cli, tunnel.closed()).await?;
            let closure = match &end {
                HoldEnd::Server(closure) => closure.clone(),
                _ => tunnel.hang_up().await,
            };
            (end, closure)
        }
    };
    let trigger = match end {
        HoldEnd::Elapsed => "hold-ended".to_owned(),
        HoldEnd::Signal(name) => format!("signal-{name}"),
        HoldEnd::Server(_) => "server".to_owned(),
    };
    say(&format!("down {closure} trigger={trigger}"));
    Ok(ExitCode::SUCCESS)
}

/// Many tunnels: connect them all, report the rate, hold them idle, hang them all up.
async fn run_load(cli: &Cli, count: usize) -> anyhow::Result<ExitCode> {
    let options = Arc::new(connect_options(cli)?);
    let mux = GreMux::open().context("cannot open the raw GRE socket (root needed)")?;
    let permits = Arc::new(Semaphore::new(cli.concurrency.max(1)));
    let start = Instant::now();
    let mut attempts = JoinSet::new();
    for _ in 0..count {
        let (mux, options, permits) = (mux.clone(), Arc::clone(&options), Arc::clone(&permits));
        attempts.spawn(async move {
            let _permit = permits.acquire().await;
            Tunnel::connect(&mux, &options).await
        });
    }
    let mut tunnels = Vec::with_capacity(count);
    let mut failed = 0usize;
    while let Some(joined) = attempts.join_next().await {
        match joined {
            Ok(Ok(tunnel)) => tunnels.push(tunnel),
            Ok(Err(error)) => {
                failed += 1;
                if failed <= 5 {
                    eprintln!("pptp-client: session failed: {error}");
                }
            }
            Err(error) => {
                failed += 1;
                eprintln!("pptp-client: session task failed: {error}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        tunnels.len() as f64 / secs
    } else {
        0.0
    };
    say(&format!(
        "sessions up={} failed={failed} secs={secs:.2} rate={rate:.1}/s",
        tunnels.len()
    ));
    hold(cli, std::future::pending()).await?;
    let start = Instant::now();
    let mut hang_ups = JoinSet::new();
    for tunnel in tunnels {
        let permits = Arc::clone(&permits);
        hang_ups.spawn(async move {
            let _permit = permits.acquire().await;
            match tunnel.closure() {
                Some(closure) => closure,
                None => tunnel.hang_up().await,
            }
        });
    }
    let (mut clean, mut unclean, mut server_closed) = (0usize, 0usize, 0usize);
    while let Some(joined) = hang_ups.join_next().await {
        match joined {
            Ok(closure) if closure.is_clean_hang_up() => clean += 1,
            Ok(closure) if closure.reason != crate::CloseReason::HangUp => {
                server_closed += 1;
            }
            _ => unclean += 1,
        }
    }
    say(&format!(
        "sessions down clean={clean} unclean={unclean} server-closed={server_closed} secs={:.2}",
        start.elapsed().as_secs_f64()
    ));
    tracing::info!(stats = ?mux.stats(), "GRE demultiplexer counters");
    Ok(if failed == 0 && unclean == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
