//! The session benchmark: how fast stock-shaped handshakes come up through the gateway's real
//! control and PPP path, and how much resident memory idle sessions cost it.

use std::path::Path;
use std::time::Duration;

use pptpd_tests::Topology;
use pptpd_tests::topology::GW_LAN_IP;
use serde::Serialize;

use crate::clients::ClientPool;
use crate::cpu::{CpuSnapshot, GATEWAY_CORE, rss_bytes};
use crate::error::{BenchError, Result};
use crate::gateway_run;

/// Handshakes in flight at once.
pub const CONCURRENCY: usize = 64;
/// Hang-ups in flight at once.
pub const HANG_UP_CONCURRENCY: usize = 256;
/// How long the gateway gets to settle before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// The set-up rate.
#[derive(Clone, Debug, Serialize)]
pub struct SetupRate {
    /// Handshakes attempted.
    pub handshakes: usize,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Sessions that came up.
    pub up: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Sessions up per second.
    pub per_second: f64,
    /// Gateway CPU milliseconds per session set up.
    pub gateway_cpu_ms_per_setup: f64,
}

/// The gateway's memory with some idle sessions.
#[derive(Clone, Debug, Serialize)]
pub struct RssPoint {
    /// Idle sessions.
    pub sessions: usize,
    /// The gateway's resident set (VmRSS), bytes.
    pub rss_bytes: u64,
    /// (RSS − RSS with no session) ÷ sessions, bytes.
    pub bytes_per_session: Option<f64>,
}

/// What the session benchmark found.
#[derive(Clone, Debug, Serialize)]
pub struct SessionsReport {
    /// The set-up rate.
    pub setup: SetupRate,
    /// Memory with 0 and more idle sessions.
    pub rss: Vec<RssPoint>,
    /// Sessions hung up at the end.
    pub hung_up: usize,
    /// Of which cleanly.
    pub hung_up_cleanly: usize,
    /// Seconds the hang-up took.
    pub hang_up_seconds: f64,
}

/// Runs the session benchmark on a fresh gateway: `setups` handshakes for the rate, then idle
/// sessions up to each of `levels` for the memory. Functional problems go to `problems`.
pub fn run(
    bin: &Path,
    extra_conf: &[String],
    topology: &Topology,
    setups: usize,
    levels: &[usize],
    problems: &mut Vec<String>,
) -> Result<SessionsReport> {
    let gateway = gateway_run::start(bin, extra_conf, topology, "sessions", 1, &[GATEWAY_CORE])?;
    let pid = gateway.pid();
    let pool = ClientPool::start(topology.vpc(), GW_LAN_IP)?;
    std::thread::sleep(SETTLE);
    let mut rss = vec![RssPoint {
        sessions: 0,
        rss_bytes: rss_bytes(pid)?,
        bytes_per_session: None,
    }];
    let baseline = rss[0].rss_bytes;

    let before = CpuSnapshot::take(Some(pid))?;
    let connected = pool.connect(setups, CONCURRENCY)?;
    let cpu = before.until(&CpuSnapshot::take(Some(pid))?);
    if connected.up < setups {
        problems.push(format!(
            "{} of {setups} handshakes failed: {:?}",
            setups - connected.up,
            connected.failures
        ));
    }
    let setup = SetupRate {
        handshakes: setups,
        concurrency: CONCURRENCY,
        up: connected.up,
        seconds: connected.seconds,
        per_second: connected.up as f64 / connected.seconds.max(1e-9),
        gateway_cpu_ms_per_setup: cpu.gateway_seconds.unwrap_or(0.0) * 1e3
            / connected.up.max(1) as f64,
    };

    let mut up = connected.up;
    let mut sorted = levels.to_vec();
    sorted.sort_unstable();
    for level in sorted {
        crate::interrupt::check()?;
        if level > up {
            let more = pool.connect(level - up, CONCURRENCY)?;
            up += more.up;
            if more.up < more.attempted {
                problems.push(format!(
                    "{} of {} handshakes failed on the way to {level} sessions: {:?}",
                    more.attempted - more.up,
                    more.attempted,
                    more.failures
                ));
                break;
            }
        }
        std::thread::sleep(SETTLE);
        let bytes = rss_bytes(pid)?;
        rss.push(RssPoint {
            sessions: up,
            rss_bytes: bytes,
            bytes_per_session: Some(bytes.saturating_sub(baseline) as f64 / up.max(1) as f64),
        });
    }

    let hung = pool.hang_up_all(HANG_UP_CONCURRENCY)?;
    if hung.clean < hung.total {
        problems.push(format!(
            "{} of {} sessions did not hang up cleanly: {:?}",
            hung.total - hung.clean,
            hung.total,
            hung.unclean
        ));
    }
    drop(pool);
    problems.extend(gateway_run::stop(gateway, topology.gw()));
    if setup.up == 0 {
        return Err(BenchError::Functional("no session came up".into()));
    }
    Ok(SessionsReport {
        setup,
        rss,
        hung_up: hung.total,
        hung_up_cleanly: hung.clean,
        hang_up_seconds: hung.seconds,
    })
}
