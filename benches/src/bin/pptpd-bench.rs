//! `pptpd-bench`: pptpd-rs beside the limits of the machine, in one run (as root).
//!
//! Sets up the pptpd-tests namespaces (client LAN `vpc`, gateway `gw`, internet host `inet`),
//! measures the limits (MPPE on one core; kernel forwarding with masquerade), pptpd-rs with one
//! worker and with two, and the session set-up rate and memory, then prints one table and
//! writes the same data as JSON. Exits non-zero only when something is functionally wrong
//! (sessions that do not come up or go down cleanly, a wrong sample, a cell that delivered
//! nothing); timings never fail it. See benches/README.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use pptpd_benches::cpu::{self, GATEWAY_CORE, TRAFFIC_CORE, online_cores, pin_current_thread};
use pptpd_benches::crypto_bound;
use pptpd_benches::namespace::{GATEWAY_ONLY, steer_receive_processing};
use pptpd_benches::report::{Direction, Machine, Report, Settings};
use pptpd_benches::sessions;
use pptpd_benches::throughput::{self, Cell, PptpdRun, grid};
use pptpd_benches::traffic::Timing;
use pptpd_tests::Topology;
use pptpd_tests::nic_tuning::{coalesce_interrupts, merge_forwarded_udp};

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    /// pptpd-rs throughput (the crypto-bound limit is measured too: it sizes the generator).
    Throughput,
    /// Session set-up rate and memory.
    Sessions,
    /// The limits: MPPE on one core and kernel forwarding.
    Limits,
}

/// pptpd-rs throughput and sessions beside the limits of the machine (run as root).
#[derive(Debug, Parser)]
#[command(name = "pptpd-bench", version)]
struct Args {
    /// A short run (well under a minute): 64 and 1400 B, short cells, fewer sessions.
    #[arg(long)]
    quick: bool,
    /// Seconds measured per cell [default: 5; --quick 0.5].
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of traffic before each measurement [default: 1; --quick 0.2].
    #[arg(long)]
    warmup: Option<f64>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run only one part.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// IPv4 datagram sizes in bytes [default: 64,512,1400; --quick 64,1400].
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Directions of the throughput cells [default: all three].
    #[arg(long, value_enum, value_delimiter = ',')]
    directions: Option<Vec<Direction>>,
    /// Session counts of the one-worker grid [default: 1,64].
    #[arg(long, value_delimiter = ',')]
    sessions: Option<Vec<usize>>,
    /// Handshakes for the set-up rate [default: 1000; --quick 200].
    #[arg(long)]
    setups: Option<usize>,
    /// Idle-session counts at which the gateway's memory is read [default: 1000,10000;
    /// --quick 1000].
    #[arg(long, value_delimiter = ',')]
    idle: Option<Vec<usize>>,
    /// The pptpd-rs binary [default: pptpd-rs, else gateway, next to this program].
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Memory for the precomputed upstream packets of one cell, MiB [default: a quarter of the
    /// available memory, between 512 and 8192; two workers at 1400 B need about 4 GiB for a
    /// 5 s cell].
    #[arg(long)]
    stream_memory_mib: Option<usize>,
    /// An extra pptpd.conf line for the gateway, e.g. "gre-direct no" (repeatable).
    #[arg(long = "gateway-conf", value_name = "LINE")]
    gateway_conf: Vec<String>,
    /// Skip the two-worker rows.
    #[arg(long)]
    no_scaling: bool,
    /// Coalesce the gateway's receive interrupts in software for this many µs, as an operator
    /// tunes a NIC (`napi_defer_hard_irqs`, `gro_flush_timeout`); 0: every packet that finds
    /// the gateway's queue empty interrupts it [default: 0].
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    irq_coalesce_us: u32,
    /// Merge the downstream datagrams of a flow that the gateway's WAN veth takes in one poll
    /// (`rx-udp-gro-forwarding`), as an operator can turn on for a NIC; needs
    /// --irq-coalesce-us (a veth polls one packet at a time without the timer).
    #[arg(long)]
    udp_gro_forwarding: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = pptpd_benches::interrupt::install() {
        eprintln!("pptpd-bench: {error}");
        return ExitCode::FAILURE;
    }
    match run(&args) {
        Ok(report) => {
            print!("{}", report.render());
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("pptpd-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn default_gateway() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    ["pptpd-rs", "gateway"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    Machine {
        cores: online_cores(),
        cpu,
        kernel,
    }
}

/// Raises the open-files soft limit to the hard limit: 10,000 sessions need 10,000 sockets.
fn raise_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn run(args: &Args) -> anyhow::Result<Report> {
    let started = Instant::now();
    if !pptpd_tests::is_root() {
        bail!("pptpd-bench needs root (network namespaces, raw sockets); try scripts/bench.sh");
    }
    if online_cores() < 2 {
        bail!("pptpd-bench needs two cores (core 0 for the gateway, core 1 for the traffic)");
    }
    if args.udp_gro_forwarding && args.irq_coalesce_us == 0 {
        bail!(
            "--udp-gro-forwarding needs --irq-coalesce-us: a veth merges only within one poll, \
             and without the timer each poll holds one packet"
        );
    }
    raise_file_limit();
    let quick = args.quick;
    let timing = Timing {
        warmup: Duration::from_secs_f64(args.warmup.unwrap_or(if quick { 0.2 } else { 1.0 })),
        duration: Duration::from_secs_f64(args.duration.unwrap_or(if quick { 0.5 } else { 5.0 })),
    };
    let sizes = args.sizes.clone().unwrap_or(if quick {
        vec![64, 1400]
    } else {
        vec![64, 512, 1400]
    });
    if let Some(bad) = sizes
        .iter()
        .find(|&&s| !(pptpd_benches::payload::MIN_DATAGRAM..=1400).contains(&s))
    {
        bail!(
            "size {bad}: datagrams must be {}..=1400 bytes (the gateway's MTU is 1400)",
            pptpd_benches::payload::MIN_DATAGRAM
        );
    }
    let session_counts = args.sessions.clone().unwrap_or(vec![1, 64]);
    let setups = args.setups.unwrap_or(if quick { 200 } else { 1000 });
    let idle = args.idle.clone().unwrap_or(if quick {
        vec![1000]
    } else {
        vec![1000, 10_000]
    });
    let gateway = match &args.gateway {
        Some(path) => path.clone(),
        None => {
            default_gateway().context("no pptpd-rs binary next to pptpd-bench; pass --gateway")?
        }
    };
    let wants = |part: Only| args.only.is_none_or(|only| only == part);

    let mut report = Report {
        machine: machine(),
        settings: Settings {
            duration_s: timing.duration.as_secs_f64(),
            warmup_s: timing.warmup.as_secs_f64(),
            sizes: sizes.clone(),
            sessions: session_counts.clone(),
            gateway: gateway.display().to_string(),
            gateway_conf: args.gateway_conf.clone(),
            irq_coalesce_us: args.irq_coalesce_us,
            udp_gro_forwarding: args.udp_gro_forwarding,
            quick,
        },
        crypto_bound: Vec::new(),
        kernel_forwarding: Vec::new(),
        pptpd: Vec::new(),
        ratios: Vec::new(),
        sessions: None,
        goals: Vec::new(),
        problems: Vec::new(),
        wall_seconds: 0.0,
    };

    // The WAN veth offloads checksums, as a real NIC does.
    let topology = Topology::builder()
        .wan_checksums_in_software(false)
        .build()
        .context("setting up the namespaces")?;
    steer_receive_processing(&topology, GATEWAY_ONLY)?;
    if args.irq_coalesce_us > 0 {
        coalesce_interrupts(&topology, args.irq_coalesce_us)?;
    }
    if args.udp_gro_forwarding {
        merge_forwarded_udp(&topology)?;
    }
    pin_current_thread(&[TRAFFIC_CORE])?;

    if wants(Only::Limits) || wants(Only::Throughput) {
        pin_current_thread(&[GATEWAY_CORE])?;
        let per_size = Duration::from_secs_f64(if quick { 0.2 } else { 1.0 });
        for &size in &sizes {
            let bound = crypto_bound::measure(size, per_size);
            eprintln!(
                "pptpd-bench: crypto-bound {size} B: {:.1} kpps",
                bound.pps / 1e3
            );
            report.crypto_bound.push(bound);
        }
        pin_current_thread(&[TRAFFIC_CORE])?;
    }
    let directions = args.directions.clone().unwrap_or(Direction::ALL.to_vec());
    let cells = grid(&sizes, &session_counts, &directions);
    pptpd_benches::interrupt::check()?;
    if wants(Only::Limits) {
        report.kernel_forwarding =
            throughput::kernel_forwarding(&topology, &cells, timing, &mut report.problems)?;
    }
    if wants(Only::Throughput) {
        let run = PptpdRun {
            bin: &gateway,
            extra_conf: &args.gateway_conf,
            workers: 1,
            cores: &[GATEWAY_CORE],
            timing,
            crypto: &report.crypto_bound,
            stream_memory: stream_memory(args.stream_memory_mib),
        };
        let mut problems = Vec::new();
        let mut cells_run = throughput::pptpd(&topology, &run, &cells, &mut problems)?;
        if !args.no_scaling {
            let scaling = scaling_cells(&sizes, &session_counts, &directions);
            let run = PptpdRun {
                workers: 2,
                cores: &[GATEWAY_CORE, TRAFFIC_CORE],
                ..run
            };
            cells_run.extend(throughput::pptpd(&topology, &run, &scaling, &mut problems)?);
        }
        report.pptpd = cells_run;
        report.problems.extend(problems);
    }
    pptpd_benches::interrupt::check()?;
    if wants(Only::Sessions) {
        report.sessions = Some(sessions::run(
            &gateway,
            &args.gateway_conf,
            &topology,
            setups,
            &idle,
            &mut report.problems,
        )?);
    }
    drop(topology);
    report.derive();
    report.wall_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(report)
}

/// The stream memory budget in bytes: `mib` if given, else a quarter of the available memory
/// within 512 MiB..=8 GiB (512 MiB when /proc/meminfo cannot be read).
fn stream_memory(mib: Option<usize>) -> usize {
    const MIB: u64 = 1 << 20;
    let bytes = match mib {
        Some(mib) => mib as u64 * MIB,
        None => cpu::available_memory_bytes().map_or(512 * MIB, |available| {
            (available / 4).clamp(512 * MIB, 8192 * MIB)
        }),
    };
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// The two-worker rows: 64 and 1400 B (those asked for), the largest session count, the
/// directions asked for.
fn scaling_cells(sizes: &[usize], sessions: &[usize], directions: &[Direction]) -> Vec<Cell> {
    let most = sessions.iter().copied().max().unwrap_or(64);
    let picked: Vec<usize> = sizes
        .iter()
        .copied()
        .filter(|s| *s == 64 || *s == 1400)
        .collect();
    let picked = if picked.is_empty() {
        sizes.to_vec()
    } else {
        picked
    };
    grid(&picked, &[most], directions)
}

fn write_json(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    eprintln!("pptpd-bench: wrote {}", path.display());
    Ok(())
}
