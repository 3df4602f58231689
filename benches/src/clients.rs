//! The client side of the benchmark's sessions: `pptp_client` tunnels (stock-shaped handshakes:
//! TCP 1723, SCCRQ/OCRQ, LCP, MS-CHAPv2, CCP/MPPE-128 stateless, IPCP) on one tokio thread that
//! lives in the client LAN namespace, pinned to the traffic core. The main thread asks it to
//! bring tunnels up, to describe them (keys, Call IDs, a block of GRE sequence numbers for the
//! packet generator) and to hang them all up.
//!
//! The tunnels share one `GreMux` whose socket keeps only PPP control frames (a BPF filter): the
//! data the benchmark sends and receives never reaches the tunnels' tasks.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mschap::{MppeConfig, MppeStartKeys};
use pptp_client::{ConnectOptions, GreMux, Tunnel};
use pptp_proto::CallId;
use pptpd_tests::Netns;
use tokio::sync::mpsc;

use crate::cpu::{TRAFFIC_CORE, pin_current_thread};
use crate::error::{BenchError, Result};
use crate::gre_frame::{GreFilter, filter_program};
use crate::namespace;

/// The user the benchmark's gateway knows.
pub const USER: &str = "root";
/// Its password.
pub const PASSWORD: &str = "123456";
/// GRE sequence numbers set aside for the packet generator on each tunnel: more than any run
/// sends, fewer than 2^31 so that the tunnel's own later packets still count as newer.
pub const GENERATOR_SEQUENCE_BLOCK: u32 = 1 << 30;

/// What the packet generator and receiver need to know about one tunnel.
#[derive(Clone, Debug)]
pub struct TunnelInfo {
    /// Position among the pool's tunnels.
    pub index: usize,
    /// Our Call ID (the key of the packets the gateway sends).
    pub call_id: CallId,
    /// The gateway's Call ID (the key of the packets we send; it shards by it).
    pub peer_call_id: CallId,
    /// Our address inside the tunnel.
    pub local_ip: Ipv4Addr,
    /// Our MPPE start keys.
    pub keys: MppeStartKeys,
    /// The negotiated MPPE mode.
    pub mppe: MppeConfig,
    /// The coherency count of our next MPPE packet.
    pub coherency_count: u16,
    /// The first GRE sequence number of the block set aside for the generator.
    pub first_seq: u32,
}

/// How bringing tunnels up went.
#[derive(Clone, Debug, Default)]
pub struct ConnectReport {
    /// Handshakes attempted.
    pub attempted: usize,
    /// Tunnels that came up.
    pub up: usize,
    /// Why the others failed (the first few).
    pub failures: Vec<String>,
    /// Wall-clock seconds from the first connect to the last tunnel up.
    pub seconds: f64,
}

/// How hanging up went.
#[derive(Clone, Debug, Default)]
pub struct HangUpReport {
    /// Tunnels hung up.
    pub total: usize,
    /// Those that ended cleanly (every teardown step answered).
    pub clean: usize,
    /// How the others ended (the first few).
    pub unclean: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

enum Request {
    Connect {
        count: usize,
        concurrency: usize,
        reply: std_mpsc::Sender<ConnectReport>,
    },
    Describe {
        count: usize,
        reply: std_mpsc::Sender<Result<Vec<TunnelInfo>>>,
    },
    HangUpAll {
        concurrency: usize,
        reply: std_mpsc::Sender<HangUpReport>,
    },
}

/// The tunnels of one client process, on a thread of their own.
pub struct ClientPool {
    requests: Option<mpsc::UnboundedSender<Request>>,
    thread: Option<JoinHandle<()>>,
}

/// Failures kept in reports.
const KEEP_FAILURES: usize = 8;

impl ClientPool {
    /// Starts the client thread in `vpc`; its tunnels connect to `server` (port 1723).
    pub fn start(vpc: &Netns, server: Ipv4Addr) -> Result<Self> {
        let (requests, inbox) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<()>>();
        let vpc_name = vpc.name().to_owned();
        let enter = namespace::entry(vpc);
        let thread = std::thread::Builder::new()
            .name("bench-clients".into())
            .spawn(move || {
                let setup = (|| -> Result<tokio::runtime::Runtime> {
                    pin_current_thread(&[TRAFFIC_CORE])?;
                    enter()?;
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| BenchError::socket("tokio runtime", e))
                })();
                let runtime = match setup {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(serve(inbox, server, ready_tx, vpc_name));
            })
            .map_err(|e| BenchError::socket("client thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(ClientPool {
                requests: Some(requests),
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(BenchError::ThreadPanicked("client")),
        }
    }

    fn ask<T>(&self, make: impl FnOnce(std_mpsc::Sender<T>) -> Request) -> Result<T> {
        let (reply, answer) = std_mpsc::channel();
        self.requests
            .as_ref()
            .and_then(|requests| requests.send(make(reply)).ok())
            .ok_or(BenchError::ThreadPanicked("client"))?;
        answer
            .recv()
            .map_err(|_| BenchError::ThreadPanicked("client"))
    }

    /// Brings `count` more tunnels up, `concurrency` handshakes at a time.
    pub fn connect(&self, count: usize, concurrency: usize) -> Result<ConnectReport> {
        self.ask(|reply| Request::Connect {
            count,
            concurrency,
            reply,
        })
    }

    /// Describes the first `count` tunnels, setting aside a block of GRE sequence numbers for
    /// the packet generator on each (do this once per tunnel).
    pub fn describe(&self, count: usize) -> Result<Vec<TunnelInfo>> {
        self.ask(|reply| Request::Describe { count, reply })?
    }

    /// Hangs every tunnel up, `concurrency` at a time.
    pub fn hang_up_all(&self, concurrency: usize) -> Result<HangUpReport> {
        self.ask(|reply| Request::HangUpAll { concurrency, reply })
    }
}

impl Drop for ClientPool {
    fn drop(&mut self) {
        // Closing the channel ends the thread; tunnels still up are dropped with the runtime.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The client thread's loop.
async fn serve(
    mut inbox: mpsc::UnboundedReceiver<Request>,
    server: Ipv4Addr,
    ready: std_mpsc::Sender<Result<()>>,
    vpc: String,
) {
    let mux = match GreMux::open() {
        Ok(mux) => mux,
        Err(e) => {
            let _ = ready.send(Err(BenchError::socket(format!("GRE socket in {vpc}"), e)));
            return;
        }
    };
    if let Err(e) = mux.attach_filter(&filter_program(GreFilter::ControlOnly)) {
        let _ = ready.send(Err(BenchError::socket("GRE control filter", e)));
        return;
    }
    let _ = ready.send(Ok(()));
    let options = ConnectOptions::new(SocketAddrV4::new(server, 1723), USER, PASSWORD);
    let mut tunnels: Vec<Tunnel> = Vec::new();
    while let Some(request) = inbox.recv().await {
        match request {
            Request::Connect {
                count,
                concurrency,
                reply,
            } => {
                let (report, up) = connect_many(&mux, &options, count, concurrency).await;
                tunnels.extend(up);
                let _ = reply.send(report);
            }
            Request::Describe { count, reply } => {
                let _ = reply.send(describe(&tunnels, count));
            }
            Request::HangUpAll { concurrency, reply } => {
                let report = hang_up_many(std::mem::take(&mut tunnels), concurrency).await;
                let _ = reply.send(report);
            }
        }
    }
}

async fn connect_many(
    mux: &GreMux,
    options: &ConnectOptions,
    count: usize,
    concurrency: usize,
) -> (ConnectReport, Vec<Tunnel>) {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, count.max(1)) {
        let (mux, options, next) = (mux.clone(), options.clone(), Arc::clone(&next));
        workers.spawn(async move {
            let mut results = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                results.push(Tunnel::connect(&mux, &options).await);
            }
            results
        });
    }
    let mut report = ConnectReport {
        attempted: count,
        ..ConnectReport::default()
    };
    let mut up = Vec::with_capacity(count);
    while let Some(joined) = workers.join_next().await {
        for result in joined.unwrap_or_default() {
            match result {
                Ok(tunnel) => up.push(tunnel),
                Err(error) if report.failures.len() < KEEP_FAILURES => {
                    report.failures.push(error.to_string())
                }
                Err(_) => {}
            }
        }
    }
    report.up = up.len();
    report.seconds = start.elapsed().as_secs_f64();
    (report, up)
}

fn describe(tunnels: &[Tunnel], count: usize) -> Result<Vec<TunnelInfo>> {
    if tunnels.len() < count {
        return Err(BenchError::Functional(format!(
            "{count} tunnels wanted, {} up",
            tunnels.len()
        )));
    }
    tunnels
        .iter()
        .take(count)
        .enumerate()
        .map(|(index, tunnel)| {
            let info = tunnel.info();
            let (Some(keys), Some(mppe), Some(coherency_count)) = (
                tunnel.mppe_start_keys(),
                info.mppe,
                tunnel.mppe_coherency_count(),
            ) else {
                return Err(BenchError::Functional(format!(
                    "tunnel {index} came up without MPPE"
                )));
            };
            Ok(TunnelInfo {
                index,
                call_id: info.call_id,
                peer_call_id: info.peer_call_id,
                local_ip: info.local,
                keys,
                mppe,
                coherency_count,
                first_seq: tunnel.reserve_gre_sequence(GENERATOR_SEQUENCE_BLOCK),
            })
        })
        .collect()
}

async fn hang_up_many(tunnels: Vec<Tunnel>, concurrency: usize) -> HangUpReport {
    let start = Instant::now();
    let total = tunnels.len();
    let queue = Arc::new(std::sync::Mutex::new(tunnels));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, total.max(1)) {
        let queue = Arc::clone(&queue);
        workers.spawn(async move {
            let mut closures = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(tunnel) = next else { break };
                let closure = tokio::time::timeout(Duration::from_secs(30), tunnel.hang_up()).await;
                closures.push(closure.map_err(|_| "hang-up timed out".to_owned()));
            }
            closures
        });
    }
    let mut report = HangUpReport {
        total,
        ..HangUpReport::default()
    };
    while let Some(joined) = workers.join_next().await {
        for closure in joined.unwrap_or_default() {
            match closure {
                Ok(closure) if closure.is_clean_hang_up() => report.clean += 1,
                Ok(closure) if report.unclean.len() < KEEP_FAILURES => {
                    report.unclean.push(closure.to_string())
                }
                Err(text) if report.unclean.len() < KEEP_FAILURES => report.unclean.push(text),
                _ => {}
            }
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}
