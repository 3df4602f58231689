//! The benchmark's results: the data (also written as JSON), the ratios and goals derived
//! from it, and the table printed on stdout.

use std::fmt::Write as _;

use serde::Serialize;

use crate::crypto_bound::CryptoBound;
use crate::sessions::SessionsReport;
use crate::traffic::{Measured, ThreadCpu};

/// Which way the datagrams travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client → internet (the gateway decrypts).
    Up,
    /// Internet → client (the gateway encrypts), datagram by datagram.
    Down,
    /// Internet → client, the datagrams reaching the gateway in trains of up to
    /// [`crate::udp_flows::TRAIN_MAX`] per flow, as a NIC with GRO hands over a download.
    #[serde(rename = "down-gro")]
    #[value(name = "down-gro")]
    DownGro,
}

impl Direction {
    /// Every direction, in the order of the tables.
    pub const ALL: [Direction; 3] = [Direction::Up, Direction::Down, Direction::DownGro];

    /// "up", "down" or "down-gro".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::DownGro => "down-gro",
        }
    }

    /// Whether the datagrams travel from the internet to the client.
    pub fn is_down(self) -> bool {
        self != Direction::Up
    }
}

/// What carried the packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// The gateway namespace's kernel routing and masquerade, no tunnel (limit (a)).
    KernelForwarding,
    /// pptpd-rs.
    PptpdRs,
}

/// One measured cell.
#[derive(Clone, Debug, Serialize)]
pub struct CellReport {
    /// What carried the packets.
    pub path: PathKind,
    /// pptpd-rs data-path workers.
    pub workers: Option<usize>,
    /// Direction.
    pub direction: Direction,
    /// IPv4 datagram size in bytes (what the tunnel carries; UDP payload is 28 less).
    pub size: usize,
    /// Sessions (flows).
    pub sessions: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Datagrams the receiver counted while measuring.
    pub received_in_window: u64,
    /// Datagrams sent while measuring.
    pub sent_in_window: u64,
    /// Delivered datagrams per second, counted at the receiver.
    pub pps: f64,
    /// Delivered datagram megabits per second (size × 8 × pps).
    pub mbps: f64,
    /// 100 × (1 − received ÷ sent) over the whole cell, warm-up and drain included.
    pub loss_percent: f64,
    /// Sent over the whole cell.
    pub sent_total: u64,
    /// Received over the whole cell.
    pub received_total: u64,
    /// Gateway process CPU seconds (utime + stime, all threads) per million delivered.
    pub gateway_cpu_s_per_mpkt: Option<f64>,
    /// Busy seconds of core 0 (wall-clock time less idle, iowait and steal) per million delivered.
    pub core0_busy_s_per_mpkt: f64,
    /// Delivered datagrams per busy second of core 0, when the gateway had core 0 alone (one
    /// worker, or kernel forwarding): the rate a fully busy gateway core would reach at the cost
    /// per packet measured, also when the generator was the limit.
    pub pps_per_core0_second: Option<f64>,
    /// Busy percentage of each core while measuring.
    pub core_busy_percent: Vec<f64>,
    /// CPU used by other processes on the machine while measuring, in percent of one core
    /// (anything above a few percent disturbs the figures).
    pub other_load_percent: f64,
    /// Delivered datagrams per second of each data-path worker's sessions.
    pub per_worker_pps: Vec<f64>,
    /// CPU seconds of each gateway thread while measuring.
    pub gateway_threads: Vec<ThreadCpu>,
    /// Datagrams decrypted/checked at the far end.
    pub verified: u64,
    /// Of which wrong.
    pub verify_failed: u64,
    /// What was wrong with the first of them.
    pub failures: Vec<String>,
    /// Kernel drop counters that grew during the measured phase (see `drops`).
    pub drops: std::collections::BTreeMap<String, u64>,
    /// The precomputed upstream stream ran out before the measurement ended.
    pub stream_exhausted: bool,
    /// One-way cache-line time between cores 0 and 1 before and after the cell, in
    /// nanoseconds (`null`: not measured); see `core_latency`.
    pub core_to_core_ns: [Option<f64>; 2],
    /// Function-call interrupts core 0 received per delivered datagram while measuring
    /// (`null`: not counted): the RPS hand-over of packets to the gateway core.
    pub core0_interrupts_per_packet: Option<f64>,
}

/// How one cell was run, for [`CellReport::new`].
#[derive(Clone, Copy, Debug)]
pub struct CellSpec {
    /// What carried the packets.
    pub path: PathKind,
    /// pptpd-rs workers.
    pub workers: Option<usize>,
    /// Direction.
    pub direction: Direction,
    /// Datagram size.
    pub size: usize,
    /// Sessions.
    pub sessions: usize,
}

impl CellReport {
    /// The report of a cell from what it measured; `worker_of_flow[f]` is the worker that
    /// owns flow `f` (empty for none).
    pub fn new(
        spec: CellSpec,
        measured: &Measured,
        worker_of_flow: &[usize],
        verified: u64,
        verify_failed: u64,
    ) -> Self {
        let seconds = measured.cpu.wall_seconds.max(1e-9);
        let received = measured.window_total();
        let pps = received as f64 / seconds;
        let mpkt = (received as f64 / 1e6).max(1e-12);
        let mut per_worker = vec![0.0; spec.workers.unwrap_or(0)];
        for (flow, &n) in measured.window_received.iter().enumerate() {
            if let Some(slot) = worker_of_flow
                .get(flow)
                .and_then(|&w| per_worker.get_mut(w))
            {
                *slot += n as f64 / seconds;
            }
        }
        CellReport {
            path: spec.path,
            workers: spec.workers,
            direction: spec.direction,
            size: spec.size,
            sessions: spec.sessions,
            seconds,
            received_in_window: received,
            sent_in_window: measured.window_sent,
            pps,
            mbps: pps * spec.size as f64 * 8.0 / 1e6,
            loss_percent: if measured.sent == 0 {
                0.0
            } else {
                100.0 * (1.0 - measured.received as f64 / measured.sent as f64)
            },
            sent_total: measured.sent,
            received_total: measured.received,
            gateway_cpu_s_per_mpkt: measured.cpu.gateway_seconds.map(|s| s / mpkt),
            core0_busy_s_per_mpkt: measured.cpu.core_seconds(0) / mpkt,
            pps_per_core0_second: (spec.workers.unwrap_or(1) == 1
                && measured.cpu.core_seconds(0) > 0.0)
                .then(|| received as f64 / measured.cpu.core_seconds(0)),
            other_load_percent: 100.0 * measured.cpu.other_seconds / seconds,
            core_busy_percent: (0..measured.cpu.core_busy_seconds.len())
                .map(|c| measured.cpu.core_percent(c))
                .collect(),
            per_worker_pps: per_worker,
            gateway_threads: measured.threads.clone(),
            verified,
            verify_failed,
            failures: Vec::new(),
            drops: Default::default(),
            stream_exhausted: measured.exhausted,
            core_to_core_ns: measured.core_to_core_ns,
            core0_interrupts_per_packet: measured
                .cpu
                .core_call_interrupts
                .first()
                .filter(|_| received > 0)
                .map(|&n| n as f64 / received as f64),
        }
    }
}

/// pptpd-rs against the limits, for one pptpd-rs cell.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// pptpd-rs workers.
    pub workers: usize,
    /// Direction.
    pub direction: Direction,
    /// Datagram size.
    pub size: usize,
    /// Sessions.
    pub sessions: usize,
    /// pptpd-rs pps ÷ kernel-forwarding pps (same direction, size and flows).
    pub vs_kernel_forwarding: Option<f64>,
    /// The same per busy second of core 0 (independent of which side limited the rates).
    pub vs_kernel_forwarding_per_core0_second: Option<f64>,
    /// pptpd-rs pps per gateway core ÷ crypto-bound pps (same size).
    pub per_core_vs_crypto_bound: Option<f64>,
    /// The most [`Self::per_core_vs_crypto_bound`] can be on this machine for a gateway that
    /// leaves routing and NAT of the inner datagrams to the kernel: crypto-bound time ÷ (that
    /// time + limit (a)'s core-0 time per packet). One worker only; see [`ceiling`].
    pub ceiling_vs_crypto_bound: Option<f64>,
    /// Core-0 nanoseconds per packet that pptpd-rs spends beyond MPPE and the kernel's own
    /// forwarding (limit (a)): moving the datagrams between GRE and the TUN device, in the
    /// kernel and in pptpd-rs. One worker only.
    pub beyond_ceiling_ns_per_packet: Option<f64>,
}

/// The best a one-core gateway can do at `crypto_ns` of MPPE and `forwarding_ns` of kernel
/// forwarding per packet, as a share of the crypto-bound rate, and what `gateway_ns` (pptpd-rs's
/// core-0 time per packet) spends beyond both.
pub fn ceiling(crypto_ns: f64, forwarding_ns: f64, gateway_ns: f64) -> (f64, f64) {
    (
        crypto_ns / (crypto_ns + forwarding_ns),
        gateway_ns - crypto_ns - forwarding_ns,
    )
}

/// Whether a goal was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Met.
    #[serde(rename = "PASS")]
    Pass,
    /// Not met.
    #[serde(rename = "MISS")]
    Miss,
    /// Reported, no threshold.
    #[serde(rename = "INFO")]
    Info,
    /// Not measured in this run.
    #[serde(rename = "N/A")]
    NotMeasured,
}

/// One goal of the issue and what this run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    /// The goal.
    pub goal: String,
    /// What was measured, with units.
    pub measured: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// The machine.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Online cores.
    pub cores: usize,
    /// CPU model.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

/// How the run was configured.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Seconds measured per cell.
    pub duration_s: f64,
    /// Seconds of warm-up per cell.
    pub warmup_s: f64,
    /// Datagram sizes.
    pub sizes: Vec<usize>,
    /// Session counts.
    pub sessions: Vec<usize>,
    /// The gateway binary.
    pub gateway: String,
    /// Extra pptpd.conf lines the gateway ran with.
    pub gateway_conf: Vec<String>,
    /// Software coalescing of the gateway's receive interrupts, µs (0: none).
    pub irq_coalesce_us: u32,
    /// GRO for forwarded UDP on the gateway's WAN veth (`rx-udp-gro-forwarding`).
    pub udp_gro_forwarding: bool,
    /// Quick mode.
    pub quick: bool,
}

/// Everything one run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The settings.
    pub settings: Settings,
    /// Limit (b): MPPE on one core.
    pub crypto_bound: Vec<CryptoBound>,
    /// Limit (a): kernel forwarding with masquerade.
    pub kernel_forwarding: Vec<CellReport>,
    /// pptpd-rs.
    pub pptpd: Vec<CellReport>,
    /// pptpd-rs against the limits.
    pub ratios: Vec<Ratio>,
    /// Session set-up and memory.
    pub sessions: Option<SessionsReport>,
    /// The goals of the issue.
    pub goals: Vec<Goal>,
    /// Functional problems (the run exits non-zero if there are any).
    pub problems: Vec<String>,
    /// Seconds the whole run took.
    pub wall_seconds: f64,
}

impl Report {
    /// The crypto-bound rate for `size`.
    pub fn crypto_pps(&self, size: usize) -> Option<f64> {
        self.crypto_bound
            .iter()
            .find(|c| c.size == size)
            .map(|c| c.pps)
    }

    /// Fills in [`Report::ratios`] and [`Report::goals`] from the measurements.
    pub fn derive(&mut self) {
        self.ratios = self
            .pptpd
            .iter()
            .map(|cell| {
                let workers = cell.workers.unwrap_or(1);
                let kernel = self.kernel_forwarding.iter().find(|k| {
                    k.direction == cell.direction
                        && k.size == cell.size
                        && k.sessions == cell.sessions
                });
                let crypto = self.crypto_pps(cell.size);
                let ceiling_of = match (
                    crypto,
                    kernel.and_then(|k| k.pps_per_core0_second),
                    cell.pps_per_core0_second,
                ) {
                    (Some(crypto), Some(theirs), Some(ours))
                        if workers == 1 && crypto > 0.0 && theirs > 0.0 && ours > 0.0 =>
                    {
                        Some(ceiling(1e9 / crypto, 1e9 / theirs, 1e9 / ours))
                    }
                    _ => None,
                };
                Ratio {
                    workers,
                    direction: cell.direction,
                    size: cell.size,
                    sessions: cell.sessions,
                    vs_kernel_forwarding: kernel.filter(|k| k.pps > 0.0).map(|k| cell.pps / k.pps),
                    vs_kernel_forwarding_per_core0_second: match (
                        cell.pps_per_core0_second,
                        kernel.and_then(|k| k.pps_per_core0_second),
                    ) {
                        (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
                        _ => None,
                    },
                    per_core_vs_crypto_bound: crypto.map(|c| cell.pps / workers as f64 / c),
                    ceiling_vs_crypto_bound: ceiling_of.map(|(share, _)| share),
                    beyond_ceiling_ns_per_packet: ceiling_of.map(|(_, ns)| ns),
                }
            })
            .collect();
        self.goals = self.goals();
    }

    fn cell(
        &self,
        workers: usize,
        direction: Direction,
        size: usize,
        sessions: usize,
    ) -> Option<&CellReport> {
        self.pptpd.iter().find(|c| {
            c.workers == Some(workers)
                && c.direction == direction
                && c.size == size
                && c.sessions == sessions
        })
    }

    /// The one-worker ratio row of a cell.
    fn one_worker_ratio(
        &self,
        direction: Direction,
        size: usize,
        sessions: usize,
    ) -> Option<&Ratio> {
        self.ratios.iter().find(|r| {
            r.workers == 1 && r.direction == direction && r.size == size && r.sessions == sessions
        })
    }

    /// The ceiling share and pptpd-rs's own nanoseconds per packet of a one-worker cell, when
    /// limit (a) was measured in the same run.
    fn ceiling_and_own(&self, cell: &CellReport) -> Option<(f64, f64)> {
        let ratio = self.one_worker_ratio(cell.direction, cell.size, cell.sessions)?;
        ratio
            .ceiling_vs_crypto_bound
            .zip(ratio.beyond_ceiling_ns_per_packet)
    }

    /// "; ceiling 68 %, own 0.74 us/pkt" for a 1400-byte goal cell (empty without limit (a)).
    fn ceiling_note(&self, cell: &CellReport) -> String {
        self.ceiling_and_own(cell)
            .map_or(String::new(), |(share, ns)| {
                format!(
                    "; ceiling {:.0} %, own {:.2} us/pkt",
                    share * 100.0,
                    ns / 1e3
                )
            })
    }

    /// "; ceiling 255 kpps, own 1.08 us/pkt" for a 64-byte goal cell (empty without limit (a)).
    fn ceiling_kpps_note(&self, cell: &CellReport) -> String {
        self.ceiling_and_own(cell)
            .zip(self.crypto_pps(cell.size))
            .map_or(String::new(), |((share, ns), crypto)| {
                format!(
                    "; ceiling {:.0} kpps, own {:.2} us/pkt",
                    share * crypto / 1e3,
                    ns / 1e3
                )
            })
    }

    fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        for direction in Direction::ALL {
            let cell = self.cell(1, direction, 1400, 1);
            let crypto = self.crypto_pps(1400);
            goals.push(match (cell, crypto) {
                (Some(cell), Some(crypto)) => {
                    let share = cell.pps / crypto;
                    Goal {
                        goal: format!(
                            "1400 B, {}, 1 session: >= 70 % of crypto-bound (1 core)",
                            direction.as_str()
                        ),
                        // The placement of the two vCPUs moves this figure by up to a tenth:
                        // shown beside it (see benches/README.md, Caveats).
                        measured: format!(
                            "{:.0} % ({:.0} of {:.0} pps; c0-c1 {} ns{}{})",
                            share * 100.0,
                            cell.pps,
                            crypto,
                            core_latency_text(&cell.core_to_core_ns),
                            nic_model_note(&self.settings),
                            self.ceiling_note(cell)
                        ),
                        verdict: if share >= 0.70 {
                            Verdict::Pass
                        } else {
                            Verdict::Miss
                        },
                    }
                }
                _ => not_measured(format!(
                    "1400 B, {}, 1 session: >= 70 % of crypto-bound (1 core)",
                    direction.as_str()
                )),
            });
        }
        for direction in Direction::ALL {
            let name = format!("64 B, {}: >= 300 kpps per gateway core", direction.as_str());
            let cells: Vec<&CellReport> = self
                .pptpd
                .iter()
                .filter(|c| c.workers == Some(1) && c.direction == direction && c.size == 64)
                .collect();
            let worst_cell = cells
                .iter()
                .copied()
                .reduce(|a, b| if b.pps < a.pps { b } else { a });
            goals.push(match worst_cell {
                Some(cell) => Goal {
                    goal: name,
                    measured: format!(
                        "{:.0} kpps (1 worker, worst of {} session counts{})",
                        cell.pps / 1e3,
                        cells.len(),
                        self.ceiling_kpps_note(cell)
                    ),
                    verdict: if cell.pps >= 300e3 {
                        Verdict::Pass
                    } else {
                        Verdict::Miss
                    },
                },
                None => not_measured(name),
            });
        }
        for cell in self.pptpd.iter().filter(|c| c.workers == Some(2)) {
            let per_worker = cell
                .per_worker_pps
                .iter()
                .map(|p| format!("{:.0}", p / 1e3))
                .collect::<Vec<_>>()
                .join(" + ");
            goals.push(Goal {
                goal: format!(
                    "scaling: 2 workers, {} sessions, {} B, {}",
                    cell.sessions,
                    cell.size,
                    cell.direction.as_str()
                ),
                measured: format!(
                    "{:.0} kpps = {per_worker} kpps per worker (generator shares the cores)",
                    cell.pps / 1e3
                ),
                verdict: Verdict::Info,
            });
        }
        match &self.sessions {
            Some(s) => {
                goals.push(Goal {
                    goal: ">= 200 session set-ups per second".into(),
                    measured: format!("{:.0} /s", s.setup.per_second),
                    verdict: if s.setup.per_second >= 200.0 {
                        Verdict::Pass
                    } else {
                        Verdict::Miss
                    },
                });
                let worst = s
                    .rss
                    .iter()
                    .filter_map(|p| p.bytes_per_session.map(|b| (p.sessions, b)))
                    .max_by_key(|(sessions, _)| *sessions);
                goals.push(match worst {
                    Some((sessions, bytes)) => Goal {
                        goal: "<= 32 KiB RSS per idle session".into(),
                        measured: format!("{:.1} KiB at {sessions} sessions", bytes / 1024.0),
                        verdict: if bytes <= 32.0 * 1024.0 {
                            Verdict::Pass
                        } else {
                            Verdict::Miss
                        },
                    },
                    None => not_measured("<= 32 KiB RSS per idle session".into()),
                });
            }
            None => {
                goals.push(not_measured(">= 200 session set-ups per second".into()));
                goals.push(not_measured("<= 32 KiB RSS per idle session".into()));
            }
        }
        goals
    }

    /// The table printed on stdout.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "pptpd-bench: {} cores ({}), kernel {}; {:.1} s per cell after {:.1} s warm-up; gateway {}",
            m.cores,
            m.cpu,
            m.kernel,
            self.settings.duration_s,
            self.settings.warmup_s,
            self.settings.gateway
        );
        if !self.settings.gateway_conf.is_empty() {
            let _ = writeln!(
                out,
                "gateway pptpd.conf extra lines: {}",
                self.settings.gateway_conf.join("; ")
            );
        }
        let _ = writeln!(
            out,
            "{}",
            irq_coalescing_text(self.settings.irq_coalesce_us)
        );
        if self.settings.udp_gro_forwarding {
            let _ = writeln!(
                out,
                "gateway wan0: GRO for forwarded UDP (rx-udp-gro-forwarding): downstream datagrams of a flow arrive merged"
            );
        }
        let _ = writeln!(
            out,
            "sizes are IPv4 datagram bytes (what the tunnel carries); Mbit/s = datagram bits; rates counted at the receiver"
        );

        if !self.crypto_bound.is_empty() {
            section(
                &mut out,
                "LIMITS (b): MPPE-128 stateless encrypt, one core (core 0)",
            );
            let rows: Vec<Vec<String>> = self
                .crypto_bound
                .iter()
                .map(|c| {
                    vec![
                        c.size.to_string(),
                        kpps(c.pps),
                        f1(c.mbps),
                        format!("{:.0}", c.ns_per_packet),
                    ]
                })
                .collect();
            table(&mut out, &["size B", "kpps", "Mbit/s", "ns/pkt"], &rows);
        }
        if !self.kernel_forwarding.is_empty() {
            section(
                &mut out,
                "LIMITS (a): kernel forwarding + masquerade in the gateway namespace, no tunnel",
            );
            cells(&mut out, &self.kernel_forwarding);
        }
        if !self.pptpd.is_empty() {
            section(
                &mut out,
                "THROUGHPUT: pptpd-rs (gateway pinned to core 0; 2-worker rows use both cores)",
            );
            cells(&mut out, &self.pptpd);
            let threads: Vec<Vec<String>> = self
                .pptpd
                .iter()
                .map(|c| {
                    vec![
                        c.workers.map_or("-".into(), |w| w.to_string()),
                        c.direction.as_str().into(),
                        c.size.to_string(),
                        c.sessions.to_string(),
                        c.gateway_threads
                            .iter()
                            .map(|t| format!("{} {:.2}", t.name, t.seconds))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            section(&mut out, "gateway CPU seconds per thread while measuring");
            table(
                &mut out,
                &["wk", "dir", "size B", "sess", "threads"],
                &threads,
            );
        }
        let lossy: Vec<Vec<String>> = self
            .kernel_forwarding
            .iter()
            .chain(&self.pptpd)
            .filter(|c| !c.drops.is_empty())
            .map(|c| {
                vec![
                    match c.path {
                        PathKind::KernelForwarding => "kernel".into(),
                        PathKind::PptpdRs => format!("pptpd-rs/{}", c.workers.unwrap_or(1)),
                    },
                    c.direction.as_str().into(),
                    c.size.to_string(),
                    c.sessions.to_string(),
                    c.drops
                        .iter()
                        .map(|(name, n)| format!("{name} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        if !lossy.is_empty() {
            section(&mut out, "kernel drop counters that grew while measuring");
            table(
                &mut out,
                &["path", "dir", "size B", "sess", "drops"],
                &lossy,
            );
        }
        if !self.ratios.is_empty() {
            section(&mut out, "RATIOS");
            let rows: Vec<Vec<String>> = self
                .ratios
                .iter()
                .map(|r| {
                    vec![
                        r.workers.to_string(),
                        r.direction.as_str().into(),
                        r.size.to_string(),
                        r.sessions.to_string(),
                        r.vs_kernel_forwarding.map_or("-".into(), pct),
                        r.vs_kernel_forwarding_per_core0_second
                            .map_or("-".into(), pct),
                        r.per_core_vs_crypto_bound.map_or("-".into(), pct),
                        r.ceiling_vs_crypto_bound.map_or("-".into(), pct),
                        r.beyond_ceiling_ns_per_packet
                            .map_or("-".into(), |ns| format!("{:.2}", ns / 1e3)),
                    ]
                })
                .collect();
            table(
                &mut out,
                &[
                    "wk",
                    "dir",
                    "size B",
                    "sess",
                    "÷ kernel fwd",
                    "÷ kernel fwd per core0-s",
                    "per core ÷ crypto",
                    "ceiling ÷ crypto",
                    "own µs/pkt",
                ],
                &rows,
            );
        }
        if let Some(s) = &self.sessions {
            section(&mut out, "SESSIONS");
            let _ = writeln!(
                out,
                "set-up: {} handshakes, {} at a time: {} up in {:.2} s = {:.0} sessions/s, gateway CPU {:.2} ms per set-up",
                s.setup.handshakes,
                s.setup.concurrency,
                s.setup.up,
                s.setup.seconds,
                s.setup.per_second,
                s.setup.gateway_cpu_ms_per_setup
            );
            let rows: Vec<Vec<String>> = s
                .rss
                .iter()
                .map(|p| {
                    vec![
                        p.sessions.to_string(),
                        format!("{:.1}", p.rss_bytes as f64 / 1048576.0),
                        p.bytes_per_session
                            .map_or("-".into(), |b| format!("{:.1}", b / 1024.0)),
                    ]
                })
                .collect();
            table(
                &mut out,
                &["idle sessions", "gateway RSS MiB", "KiB per session"],
                &rows,
            );
            let _ = writeln!(
                out,
                "hang-up: {} of {} cleanly in {:.2} s",
                s.hung_up_cleanly, s.hung_up, s.hang_up_seconds
            );
        }
        let noisy = self
            .kernel_forwarding
            .iter()
            .chain(&self.pptpd)
            .map(|c| c.other_load_percent)
            .fold(0.0, f64::max);
        if noisy > 5.0 {
            let _ = writeln!(
                out,
                "\nwarning: other processes used up to {noisy:.0} % of a core while measuring \
                 (column \"other %\"): those figures are disturbed; re-run on an idle machine"
            );
        }
        section(&mut out, "GOALS");
        let rows: Vec<Vec<String>> = self
            .goals
            .iter()
            .map(|g| {
                let verdict = serde_json::to_value(g.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                vec![verdict, g.goal.clone(), g.measured.clone()]
            })
            .collect();
        table(&mut out, &["", "goal", "measured"], &rows);
        if !self.problems.is_empty() {
            section(&mut out, "PROBLEMS");
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        let _ = writeln!(out, "\nwall time {:.0} s", self.wall_seconds);
        out
    }
}

/// The core-to-core latencies before and after a cell, as "before/after" in whole
/// nanoseconds ("-" where not measured).
fn core_latency_text(ns: &[Option<f64>; 2]) -> String {
    ns.iter()
        .map(|ns| ns.map_or("-".into(), |ns| format!("{ns:.0}")))
        .collect::<Vec<_>>()
        .join("/")
}

/// The header line saying how the gateway's receive interrupts were taken.
fn irq_coalescing_text(micros: u32) -> String {
    match micros {
        0 => "gateway veths: no interrupt coalescing (--irq-coalesce-us models a tuned NIC)".into(),
        us => format!(
            "gateway veths: receive interrupts coalesced in software, {us} us \
             (napi_defer_hard_irqs, gro_flush_timeout)"
        ),
    }
}

/// What the 1400-byte goal lines add about the modelled NIC: nothing for plain veths.
fn nic_model_note(settings: &Settings) -> String {
    let mut note = match settings.irq_coalesce_us {
        0 => String::new(),
        us => format!("; irq coalescing {us} us"),
    };
    if settings.udp_gro_forwarding {
        note.push_str("; udp gro forwarding");
    }
    note
}

fn not_measured(goal: String) -> Goal {
    Goal {
        goal,
        measured: "not measured".into(),
        verdict: Verdict::NotMeasured,
    }
}

fn kpps(pps: f64) -> String {
    format!("{:.1}", pps / 1e3)
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n== {title}");
}

fn cells(out: &mut String, cells: &[CellReport]) {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let mut flags = String::new();
            if c.verify_failed > 0 {
                flags.push_str(" BAD");
            }
            if c.stream_exhausted {
                flags.push_str(" short");
            }
            vec![
                c.workers.map_or("-".into(), |w| w.to_string()),
                c.direction.as_str().into(),
                c.size.to_string(),
                c.sessions.to_string(),
                kpps(c.pps),
                f1(c.mbps),
                format!("{:.2}", c.loss_percent),
                c.gateway_cpu_s_per_mpkt
                    .map_or("-".into(), |s| format!("{s:.2}")),
                format!("{:.2}", c.core0_busy_s_per_mpkt),
                c.pps_per_core0_second.map_or("-".into(), kpps),
                c.core_busy_percent
                    .iter()
                    .map(|p| format!("{p:.0}"))
                    .collect::<Vec<_>>()
                    .join("/"),
                format!("{:.0}", c.other_load_percent),
                if c.per_worker_pps.len() > 1 {
                    c.per_worker_pps
                        .iter()
                        .map(|p| kpps(*p))
                        .collect::<Vec<_>>()
                        .join("+")
                } else {
                    "-".into()
                },
                core_latency_text(&c.core_to_core_ns),
                c.core0_interrupts_per_packet
                    .map_or("-".into(), |n| format!("{n:.2}")),
                format!("{}/{}{flags}", c.verified - c.verify_failed, c.verified),
            ]
        })
        .collect();
    table(
        out,
        &[
            "wk",
            "dir",
            "size B",
            "sess",
            "kpps",
            "Mbit/s",
            "loss %",
            "gw CPU s/Mpkt",
            "core0 s/Mpkt",
            "kpps/core0-s",
            "busy % c0/c1",
            "other %",
            "kpps/worker",
            "c0-c1 ns",
            "IPI/pkt c0",
            "checked ok",
        ],
        &rows,
    );
}

/// An aligned table: text columns left, numeric columns right.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    // A column of numbers ("1.5", "12 %", "3/4", "1+2", "-") is right-aligned.
    let numeric = |i: usize| {
        rows.iter().all(|r| {
            r.get(i).is_none_or(|c| {
                c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-')
                    && c.chars().all(|ch| "0123456789.-+/% ".contains(ch))
            })
        })
    };
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if numeric(i) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if i + 1 < cells.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        text.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut out = String::new();
        table(
            &mut out,
            &["name", "kpps"],
            &[
                vec!["a".into(), "1.5".into()],
                vec!["long".into(), "1000.0".into()],
            ],
        );
        assert_eq!(out, "name    kpps\na        1.5\nlong  1000.0\n");
    }

    /// This machine's figures of one run (1400 B upstream): MPPE 4.28 µs, the kernel's
    /// forwarding 2.03 µs and pptpd-rs 7.05 µs per packet on core 0.
    #[test]
    fn ceiling_is_crypto_over_crypto_plus_forwarding_and_own_time_the_rest() {
        let (share, own_ns) = ceiling(4275.0, 2030.0, 7050.0);
        assert!((share - 4275.0 / 6305.0).abs() < 1e-12, "{share}");
        assert!((0.67..0.69).contains(&share));
        assert!((own_ns - 745.0).abs() < 1e-9, "{own_ns}");
        // Free forwarding leaves the crypto-bound rate itself as the ceiling.
        assert_eq!(ceiling(3000.0, 0.0, 3000.0), (1.0, 0.0));
    }

    /// A measured cell: `pps` delivered, `core0_ns` of core 0 per packet.
    fn cell(
        path: PathKind,
        workers: Option<usize>,
        direction: Direction,
        size: usize,
        pps: f64,
        core0_ns: f64,
    ) -> CellReport {
        CellReport {
            path,
            workers,
            direction,
            size,
            sessions: 1,
            seconds: 1.0,
            received_in_window: pps as u64,
            sent_in_window: pps as u64,
            pps,
            mbps: pps * size as f64 * 8.0 / 1e6,
            loss_percent: 0.0,
            sent_total: pps as u64,
            received_total: pps as u64,
            gateway_cpu_s_per_mpkt: None,
            core0_busy_s_per_mpkt: core0_ns / 1e3,
            pps_per_core0_second: (workers.unwrap_or(1) == 1).then_some(1e9 / core0_ns),
            core_busy_percent: vec![100.0, 50.0],
            other_load_percent: 0.0,
            per_worker_pps: Vec::new(),
            gateway_threads: Vec::new(),
            verified: 0,
            verify_failed: 0,
            failures: Vec::new(),
            drops: Default::default(),
            stream_exhausted: false,
            core_to_core_ns: [None, None],
            core0_interrupts_per_packet: None,
        }
    }

    fn crypto(size: usize, ns: f64) -> CryptoBound {
        CryptoBound {
            size,
            packets: 1,
            seconds: ns / 1e9,
            pps: 1e9 / ns,
            mbps: 0.0,
            ns_per_packet: ns,
        }
    }

    /// The ceiling reaches the ratios and the goal lines of one-worker cells from limit (a)
    /// of the same direction and size, and never a two-worker row.
    #[test]
    fn goal_lines_give_the_ceiling_and_own_time_of_the_cell() {
        let up = Direction::Up;
        let mut report = Report {
            machine: Machine {
                cores: 2,
                cpu: String::new(),
                kernel: String::new(),
            },
            settings: Settings {
                duration_s: 1.0,
                warmup_s: 0.0,
                sizes: vec![64, 1400],
                sessions: vec![1],
                gateway: String::new(),
                gateway_conf: Vec::new(),
                irq_coalesce_us: 0,
                udp_gro_forwarding: false,
                quick: false,
            },
            crypto_bound: vec![crypto(64, 1500.0), crypto(1400, 4000.0)],
            kernel_forwarding: vec![
                cell(PathKind::KernelForwarding, None, up, 64, 200e3, 2500.0),
                cell(PathKind::KernelForwarding, None, up, 1400, 200e3, 1000.0),
            ],
            pptpd: vec![
                cell(PathKind::PptpdRs, Some(1), up, 64, 190e3, 5000.0),
                cell(PathKind::PptpdRs, Some(1), up, 1400, 180e3, 5500.0),
                cell(PathKind::PptpdRs, Some(2), up, 1400, 300e3, 5500.0),
            ],
            ratios: Vec::new(),
            sessions: None,
            goals: Vec::new(),
            problems: Vec::new(),
            wall_seconds: 0.0,
        };
        report.derive();
        let ratio = report.one_worker_ratio(up, 1400, 1).unwrap();
        assert_eq!(ratio.ceiling_vs_crypto_bound, Some(0.8));
        assert_eq!(ratio.beyond_ceiling_ns_per_packet, Some(500.0));
        let two = report.ratios.iter().find(|r| r.workers == 2).unwrap();
        assert_eq!(two.ceiling_vs_crypto_bound, None);
        let line = |report: &Report, start: &str| {
            let goal = report.goals.iter().find(|g| g.goal.starts_with(start));
            goal.unwrap().measured.clone()
        };
        // 180 of 250 kpps crypto-bound: 72 %; ceiling 4 µs of 5 µs.
        let up1400 = line(&report, "1400 B, up");
        assert!(
            up1400.ends_with("ceiling 80 %, own 0.50 us/pkt)"),
            "{up1400}"
        );
        // 1 / (1.5 + 2.5 µs) = 250 kpps; 5 - 4 µs own.
        let up64 = line(&report, "64 B, up");
        assert!(
            up64.ends_with("; ceiling 250 kpps, own 1.00 us/pkt)"),
            "{up64}"
        );
        // Without limit (a) in the run, no ceiling.
        report.kernel_forwarding.clear();
        report.derive();
        assert!(!line(&report, "1400 B, up").contains("ceiling"));
    }

    #[test]
    fn core_latencies_read_before_slash_after() {
        assert_eq!(core_latency_text(&[Some(193.4), Some(47.6)]), "193/48");
        assert_eq!(core_latency_text(&[None, Some(180.0)]), "-/180");
    }

    #[test]
    fn the_header_says_whether_interrupts_were_coalesced() {
        assert!(irq_coalescing_text(0).contains("no interrupt coalescing"));
        assert!(irq_coalescing_text(100).contains("coalesced in software, 100 us"));
    }
}
