//! The throughput cells: limit (a), kernel forwarding, and pptpd-rs itself, each a grid of
//! directions × datagram sizes × session counts measured with [`crate::traffic::run_cell`].

use std::net::{SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use pptp_proto::CallId;
use pptpd_tests::Topology;
use pptpd_tests::topology::{GW_LAN_IP, INET_IP, LAN_NET, client_ip};

use crate::clients::ClientPool;
use crate::cpu::{GATEWAY_CORE, TRAFFIC_CORE};
use crate::crypto_bound::CryptoBound;
use crate::drops::DropCounters;
use crate::error::{BenchError, Result};
use crate::gateway_run;
use crate::gre_frame::{FRAME_OVERHEAD, GreFilter};
use crate::namespace::{self, GATEWAY_ONLY, steer_receive_processing};
use crate::payload::IP_UDP_HEADERS;
use crate::report::{CellReport, CellSpec, Direction, PathKind};
use crate::traffic::{FlowReceived, Sink, Source, Timing, flow_window, run_cell};
use crate::tunnel_flows::{
    DownstreamSession, GreDataSink, GreStreamSource, UpstreamSession, build_streams, gre_socket,
};
use crate::udp_flows::{Expectations, UdpSender, UdpSink, bind_udp};

/// The port the internet host's sink listens on (and the blaster sends from).
pub const SINK_PORT: u16 = 9000;
/// The first source port of the kernel-forwarding flows in the client LAN.
pub const KERNEL_FLOW_PORT: u16 = 20000;
/// The internet host's network.
const INTERNET_NET: &str = "198.51.100.0/24";
/// How long flows may take to show up at the internet host when priming NAT mappings.
const LEARN_TIMEOUT: Duration = Duration::from_secs(3);

/// One cell of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Direction.
    pub direction: Direction,
    /// IPv4 datagram size.
    pub size: usize,
    /// Sessions (flows).
    pub sessions: usize,
}

/// Every combination of `sizes`, `sessions` and `directions`.
pub fn grid(sizes: &[usize], sessions: &[usize], directions: &[Direction]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &size in sizes {
        for &n in sessions {
            for &direction in directions {
                cells.push(Cell {
                    direction,
                    size,
                    sessions: n,
                });
            }
        }
    }
    cells
}

fn sink_address() -> SocketAddrV4 {
    SocketAddrV4::new(INET_IP, SINK_PORT)
}

/// Prints progress on stderr.
fn progress(what: &str, cell: &Cell, report: &CellReport) {
    eprintln!(
        "pptpd-bench: {what} {} {} B x{}: {:.1} kpps, loss {:.2} %, core0 {:.0} %{}",
        cell.direction.as_str(),
        cell.size,
        cell.sessions,
        report.pps / 1e3,
        report.loss_percent,
        report.core_busy_percent.first().copied().unwrap_or(0.0),
        if report.drops.is_empty() {
            String::new()
        } else {
            format!(", drops {:?}", report.drops)
        }
    );
}

/// Limit (a): the same datagrams routed and masqueraded by the gateway namespace's kernel, no
/// tunnel, no pptpd-rs.
pub fn kernel_forwarding(
    topology: &Topology,
    cells: &[Cell],
    timing: Timing,
    problems: &mut Vec<String>,
) -> Result<Vec<CellReport>> {
    let flows = cells.iter().map(|c| c.sessions).max().unwrap_or(0);
    gateway_run::enable_kernel_forwarding(topology, LAN_NET, INTERNET_NET, GW_LAN_IP)?;
    let result = (|| {
        let sink_socket = namespace::within(topology.inet(), || bind_udp(sink_address()))??;
        let client_sockets = (0..flows)
            .map(|f| {
                let addr = SocketAddrV4::new(client_ip(0), KERNEL_FLOW_PORT + f as u16);
                namespace::within(topology.vpc(), || bind_udp(addr))?
            })
            .collect::<Result<Vec<UdpSocket>>>()?;
        let mut clients = UdpSender::per_flow(client_sockets);
        let mut reports = Vec::new();
        for cell in cells {
            crate::interrupt::check()?;
            let report = kernel_cell(topology, &mut clients, &sink_socket, cell, timing)?;
            progress("kernel forwarding", cell, &report);
            check_cell(&report, "kernel forwarding", cell, problems);
            reports.push(report);
        }
        Ok(reports)
    })();
    gateway_run::disable_kernel_forwarding(topology, INTERNET_NET)?;
    result
}

fn kernel_cell(
    topology: &Topology,
    clients: &mut UdpSender,
    sink_socket: &UdpSocket,
    cell: &Cell,
    timing: Timing,
) -> Result<CellReport> {
    let n = cell.sessions;
    let payload = cell.size.saturating_sub(IP_UDP_HEADERS);
    // Create (or refresh) each flow's NAT mapping and learn it at the internet host.
    let mut learner = UdpSink::new(vec![sink_socket], n, Expectations::default());
    for flow in 0..n {
        clients.send_one(flow, sink_address(), payload)?;
    }
    let mapping = learner.learn_sources(LEARN_TIMEOUT)?;
    drop(learner);
    let spec = CellSpec {
        path: PathKind::KernelForwarding,
        workers: None,
        direction: cell.direction,
        size: cell.size,
        sessions: n,
    };
    // One measured cell, with the kernel drop counters that grew meanwhile.
    let measure = |source: &mut dyn Source, sink: &mut UdpSink| -> Result<CellReport> {
        let before = DropCounters::read(topology);
        let measured = run_cell(source, sink, n, timing, None, &[])?;
        let mut report = CellReport::new(spec, &measured, &[], sink.verified, sink.failed);
        report.drops = DropCounters::read(topology).since(&before);
        report.failures = std::mem::take(&mut sink.failures);
        Ok(report)
    };
    match cell.direction {
        Direction::Up => {
            let mut sink = UdpSink::new(
                vec![sink_socket],
                n,
                Expectations {
                    src: Some(mapping),
                    socket_flow: None,
                },
            );
            let mut source = clients.source(vec![sink_address(); n], payload);
            measure(&mut source, &mut sink)
        }
        Direction::Down | Direction::DownGro => {
            let blaster_socket = sink_socket
                .try_clone()
                .map_err(|e| BenchError::socket("clone the sink socket", e))?;
            let mut blaster = UdpSender::shared(blaster_socket, n);
            let mut source = blaster
                .source(mapping, payload)
                .in_trains(cell.direction == Direction::DownGro);
            let receivers: Vec<&UdpSocket> = (0..n).map(|f| clients.socket(f)).collect();
            let mut sink = UdpSink::new(
                receivers,
                n,
                Expectations {
                    src: Some(vec![sink_address(); n]),
                    socket_flow: Some((0..n).collect()),
                },
            );
            measure(&mut source, &mut sink)
        }
    }
}

/// What a run of pptpd-rs cells needs to know.
#[derive(Clone, Copy, Debug)]
pub struct PptpdRun<'a> {
    /// The gateway binary.
    pub bin: &'a Path,
    /// Extra pptpd.conf lines (`--gateway-conf`).
    pub extra_conf: &'a [String],
    /// Data-path workers.
    pub workers: usize,
    /// The cores the gateway (and the gateway namespace's receive processing) gets.
    pub cores: &'a [usize],
    /// Timing of each cell.
    pub timing: Timing,
    /// The crypto-bound rates (they size the precomputed upstream streams).
    pub crypto: &'a [CryptoBound],
    /// The most memory the precomputed streams of one cell may take, bytes.
    pub stream_memory: usize,
}

/// The packets each of `sessions` upstream streams needs to keep `rate` packets per second
/// (all sessions) going for `seconds`, within the memory budget.
pub fn stream_length(
    run: &PptpdRun<'_>,
    size: usize,
    sessions: usize,
    rate: f64,
    seconds: f64,
) -> usize {
    let wanted =
        (rate * seconds / sessions.max(1) as f64) as usize + flow_window(sessions) as usize + 16;
    let cap = run.stream_memory / (sessions.max(1) * (size + FRAME_OVERHEAD));
    wanted.min(cap).max(1)
}

/// The crypto-bound rate of all workers for `size`: no gateway decrypts faster.
fn crypto_ceiling(run: &PptpdRun<'_>, size: usize) -> f64 {
    run.crypto
        .iter()
        .find(|c| c.size == size)
        .map_or(1e6, |c| c.pps)
        * run.workers as f64
}

/// Traffic before the measurement of the second upstream phase.
const REWARM: Duration = Duration::from_millis(250);
/// Margin over the warm-up's rate for the measured phase's streams.
const RATE_MARGIN: f64 = 1.4;

/// pptpd-rs: starts it, brings up as many sessions as the largest cell needs, runs `cells`,
/// hangs the sessions up and stops it.
pub fn pptpd(
    topology: &Topology,
    run: &PptpdRun<'_>,
    cells: &[Cell],
    problems: &mut Vec<String>,
) -> Result<Vec<CellReport>> {
    let needed = cells.iter().map(|c| c.sessions).max().unwrap_or(0);
    if needed == 0 {
        return Ok(Vec::new());
    }
    steer_receive_processing(topology, run.cores)?;
    let name = format!("workers{}", run.workers);
    let gateway = gateway_run::start(
        run.bin,
        run.extra_conf,
        topology,
        &name,
        run.workers,
        run.cores,
    )?;
    let pid = gateway.pid();
    let result = (|| {
        let pool = ClientPool::start(topology.vpc(), GW_LAN_IP)?;
        let connected = pool.connect(needed, crate::sessions::CONCURRENCY)?;
        if connected.up < needed {
            return Err(BenchError::Functional(format!(
                "{} of {needed} sessions came up: {:?}",
                connected.up, connected.failures
            )));
        }
        let tunnels = pool.describe(needed)?;
        let mut upstream: Vec<UpstreamSession> = tunnels.iter().map(UpstreamSession::new).collect();
        let mut downstream: Vec<DownstreamSession> =
            tunnels.iter().map(DownstreamSession::new).collect();
        let call_ids: Vec<CallId> = tunnels.iter().map(|t| t.call_id).collect();
        let owner: Vec<usize> = tunnels
            .iter()
            .map(|t| usize::from(t.peer_call_id.0) % run.workers.max(1))
            .collect();
        // One raw socket sends upstream and counts downstream: every raw GRE socket in the
        // client LAN costs a copy of every packet arriving there.
        let gre = namespace::within(topology.vpc(), || gre_socket(GreFilter::MppeDataOnly))??;
        let sink_socket = namespace::within(topology.inet(), || bind_udp(sink_address()))??;
        let sockets = TunnelSockets {
            gre: &gre,
            sink: &sink_socket,
        };
        let mut reports = Vec::new();
        for cell in cells {
            crate::interrupt::check()?;
            let n = cell.sessions;
            let spec = CellSpec {
                path: PathKind::PptpdRs,
                workers: Some(run.workers),
                direction: cell.direction,
                size: cell.size,
                sessions: n,
            };
            let report = match cell.direction {
                Direction::Up => upstream_cell(
                    topology,
                    run,
                    &sockets,
                    &mut upstream[..n],
                    spec,
                    pid,
                    &owner,
                )?,
                Direction::Down | Direction::DownGro => downstream_cell(
                    topology,
                    run,
                    &sockets,
                    &mut upstream[..n],
                    &mut downstream[..n],
                    &call_ids[..n],
                    spec,
                    pid,
                    &owner,
                )?,
            };
            progress(
                &format!("pptpd-rs {} worker(s)", run.workers),
                cell,
                &report,
            );
            check_cell(
                &report,
                &format!("pptpd-rs {} worker(s)", run.workers),
                cell,
                problems,
            );
            reports.push(report);
        }
        let hung = pool.hang_up_all(crate::sessions::HANG_UP_CONCURRENCY)?;
        if hung.clean < hung.total {
            problems.push(format!(
                "{} of {} throughput sessions did not hang up cleanly: {:?}",
                hung.total - hung.clean,
                hung.total,
                hung.unclean
            ));
        }
        Ok(reports)
    })();
    match &result {
        Ok(_) => problems.extend(gateway_run::stop(gateway, topology.gw())),
        // A failed or interrupted run does not wait for the sessions' graceful end.
        Err(_) => drop(gateway),
    }
    steer_receive_processing(topology, GATEWAY_ONLY)?;
    result
}

/// The sockets of the tunnel cells.
struct TunnelSockets<'a> {
    /// Raw GRE in the client LAN: sends upstream, receives MPPE data only.
    gre: &'a socket2::Socket,
    /// UDP on the internet host.
    sink: &'a UdpSocket,
}

/// An upstream cell in two phases, because the streams are precomputed and stateless MPPE
/// makes every packet not sent cost the gateway a key change later: the warm-up runs on
/// streams sized for the crypto-bound rate and tells the real rate; the measurement then runs
/// on streams sized for that rate (with a margin), after a short warm-up of its own.
fn upstream_cell(
    topology: &Topology,
    run: &PptpdRun<'_>,
    sockets: &TunnelSockets<'_>,
    sessions: &mut [UpstreamSession],
    spec: CellSpec,
    pid: u32,
    owner: &[usize],
) -> Result<CellReport> {
    let n = sessions.len();
    let cores = [GATEWAY_CORE, TRAFFIC_CORE];
    let mut sink = UdpSink::new(vec![sockets.sink], n, Expectations::default());

    let warmup = run.timing.warmup.max(Duration::from_millis(100));
    let per_session = stream_length(
        run,
        spec.size,
        n,
        crypto_ceiling(run, spec.size),
        warmup.as_secs_f64() * 1.1,
    );
    let streams = build_streams(sessions, spec.size, sink_address(), per_session, &cores);
    let mut source = GreStreamSource::new(sockets.gre, GW_LAN_IP, streams);
    source.send_one_each()?;
    sink.expect.src = Some(sink.learn_sources(LEARN_TIMEOUT)?);
    let warm_timing = Timing {
        warmup,
        duration: Duration::ZERO,
    };
    let warm = run_cell(&mut source, &mut sink, n, warm_timing, None, owner)?;
    let skipped = source.skip_rest()?;
    settle(&mut sink, n, skipped);
    drop(source);

    let rate = (warm.overall_rate() * RATE_MARGIN).min(crypto_ceiling(run, spec.size));
    let seconds = (REWARM + run.timing.duration).as_secs_f64();
    let per_session = stream_length(run, spec.size, n, rate, seconds);
    let streams = build_streams(sessions, spec.size, sink_address(), per_session, &cores);
    let mut source = GreStreamSource::new(sockets.gre, GW_LAN_IP, streams);
    let timing = Timing {
        warmup: REWARM,
        duration: run.timing.duration,
    };
    let before = DropCounters::read(topology);
    let measured = run_cell(&mut source, &mut sink, n, timing, Some(pid), owner)?;
    let drops = DropCounters::read(topology).since(&before);
    let skipped = source.skip_rest()?;
    settle(&mut sink, n, skipped);
    let mut report = CellReport::new(spec, &measured, owner, sink.verified, sink.failed);
    report.drops = drops;
    report.failures = std::mem::take(&mut sink.failures);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn downstream_cell(
    topology: &Topology,
    run: &PptpdRun<'_>,
    sockets: &TunnelSockets<'_>,
    upstream: &mut [UpstreamSession],
    downstream: &mut [DownstreamSession],
    call_ids: &[CallId],
    spec: CellSpec,
    pid: u32,
    owner: &[usize],
) -> Result<CellReport> {
    let n = upstream.len();
    // One packet per session upstream creates (or refreshes) its NAT mapping.
    let primers = build_streams(upstream, spec.size, sink_address(), 1, &[TRAFFIC_CORE]);
    let mut primer = GreStreamSource::new(sockets.gre, GW_LAN_IP, primers);
    let mut learner = UdpSink::new(vec![sockets.sink], n, Expectations::default());
    primer.send_one_each()?;
    let mapping = learner.learn_sources(LEARN_TIMEOUT)?;
    drop(learner);
    let blaster_socket = sockets
        .sink
        .try_clone()
        .map_err(|e| BenchError::socket("clone the sink socket", e))?;
    let mut blaster = UdpSender::shared(blaster_socket, n);
    let mut source = blaster
        .source(mapping, spec.size.saturating_sub(IP_UDP_HEADERS))
        .in_trains(spec.direction == Direction::DownGro);
    let mut sink = GreDataSink::new(sockets.gre, downstream, call_ids, sink_address());
    let before = DropCounters::read(topology);
    let measured = run_cell(&mut source, &mut sink, n, run.timing, Some(pid), owner)?;
    let drops = DropCounters::read(topology).since(&before);
    let check = sink.check_samples(&[GATEWAY_CORE, TRAFFIC_CORE]);
    let mut report = CellReport::new(spec, &measured, owner, check.verified, check.failed);
    report.drops = drops;
    report.failures = check.failures;
    Ok(report)
}

/// Receives until `expected` more datagrams arrived or nothing came for a while: the gateway
/// works through the skipped part of the key chain before the next cell starts.
fn settle(sink: &mut dyn Sink, flows: usize, expected: u64) {
    let mut counters = vec![FlowReceived::default(); flows];
    let start = Instant::now();
    let mut quiet_since = Instant::now();
    let mut got = 0u64;
    while got < expected
        && quiet_since.elapsed() < Duration::from_millis(500)
        && start.elapsed() < Duration::from_secs(20)
    {
        match sink.receive(&mut counters) {
            Ok(n) if n > 0 => {
                got += n as u64;
                quiet_since = Instant::now();
            }
            _ => sink.wait(Duration::from_millis(5)),
        }
    }
}

/// Records what is functionally wrong with a cell: nothing delivered, a wrong sample.
fn check_cell(report: &CellReport, what: &str, cell: &Cell, problems: &mut Vec<String>) {
    let name = format!(
        "{what} {} {} B x{}",
        cell.direction.as_str(),
        cell.size,
        cell.sessions
    );
    if report.received_in_window == 0 {
        problems.push(format!("{name}: nothing delivered"));
    }
    if report.verified == 0 {
        problems.push(format!("{name}: no sample was checked"));
    }
    if report.verify_failed > 0 {
        problems.push(format!(
            "{name}: {} of {} checked datagrams were wrong: {:?}",
            report.verify_failed, report.verified, report.failures
        ));
    }
}
