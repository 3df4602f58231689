//! Where things run and what they cost: pinning threads and processes to cores
//! (`sched_setaffinity(2)`), and the kernel's CPU accounting in `/proc` (proc(5)): per-core busy
//! time from `/proc/stat`, a process's own CPU time from `/proc/PID/stat` and its resident
//! memory from `/proc/PID/status`.

use std::time::Instant;

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use crate::error::{BenchError, Result};

/// The core the gateway (and the gateway namespace's packet processing) runs on.
pub const GATEWAY_CORE: usize = 0;
/// The core the traffic generators, receivers and clients run on.
pub const TRAFFIC_CORE: usize = 1;

/// The number of cores the kernel has online.
pub fn online_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn cpu_set(cores: &[usize]) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for &core in cores {
        set.set(core)
            .map_err(|e| BenchError::system(format!("CPU set with core {core}"), e))?;
    }
    Ok(set)
}

/// Pins the calling thread to `cores`.
pub fn pin_current_thread(cores: &[usize]) -> Result<()> {
    let set = cpu_set(cores)?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| BenchError::system(format!("pin this thread to {cores:?}"), e))
}

/// Pins every thread of process `pid` to `cores` (threads it starts later inherit the mask of
/// the thread that starts them).
pub fn pin_process(pid: u32, cores: &[usize]) -> Result<()> {
    let set = cpu_set(cores)?;
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|e| BenchError::io(&dir, e))?;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // A thread may have exited since the listing: not an error.
        let _ = sched_setaffinity(Pid::from_raw(tid), &set);
    }
    Ok(())
}

/// Kernel clock ticks per second (`USER_HZ`), the unit of `/proc/stat` and `/proc/PID/stat`.
pub fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as f64,
        _ => 100.0,
    }
}

/// Function-call interrupts received by each core (`CAL` in `/proc/interrupts`): the
/// inter-core interrupts through which RPS hands a core its packets (and remote wake-ups).
pub fn core_call_interrupts() -> Result<Vec<u64>> {
    let text = read("/proc/interrupts")?;
    Ok(parse_call_interrupts(&text))
}

/// [`core_call_interrupts`] from the text of `/proc/interrupts`: the `CAL:` row, one count per
/// `CPUn` column of the header (empty without such a row).
pub fn parse_call_interrupts(text: &str) -> Vec<u64> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cores = header
        .split_whitespace()
        .filter(|w| w.starts_with("CPU"))
        .count();
    lines
        .find_map(|l| l.trim_start().strip_prefix("CAL:"))
        .map(|row| {
            row.split_whitespace()
                .take(cores)
                .map_while(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Not-busy ticks of each core (idle + iowait + steal), from `/proc/stat`.
///
/// Busy time is what remains of the wall-clock time. The kernel keeps idle time exactly (with a
/// tickless idle it is measured from idle entry to exit), while user, system, irq and softirq
/// time are sampled at each scheduler tick, and a core that alternates between short bursts of
/// packet work and idle (the tick stops while it idles) has most of its busy time missed by the
/// sampling: counting the idle time is the accurate way.
pub fn core_idle_ticks() -> Result<Vec<u64>> {
    let text = read("/proc/stat")?;
    Ok(parse_core_idle_ticks(&text))
}

/// [`core_idle_ticks`] from the text of `/proc/stat`.
pub fn parse_core_idle_ticks(stat: &str) -> Vec<u64> {
    let mut cores = Vec::new();
    for line in stat.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let Some(index) = name
            .strip_prefix("cpu")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let fields: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...
        let idle = [3, 4, 7].iter().filter_map(|&i| fields.get(i)).sum::<u64>();
        if cores.len() <= index {
            cores.resize(index + 1, 0);
        }
        cores[index] = idle;
    }
    cores
}

/// CPU ticks process `pid` used so far, all threads, user + system (`utime + stime`).
pub fn process_ticks(pid: u32) -> Result<u64> {
    let text = read(&format!("/proc/{pid}/stat"))?;
    parse_process_ticks(&text).ok_or_else(|| BenchError::Parse {
        what: format!("/proc/{pid}/stat"),
        text,
    })
}

/// [`process_ticks`] from the text of `/proc/PID/stat`.
pub fn parse_process_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is rest[0]; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU ticks of each thread of process `pid`: (thread id, name, utime + stime). Empty if the
/// process is gone.
pub fn thread_ticks(pid: u32) -> Vec<(u32, String, u64)> {
    let dir = format!("/proc/{pid}/task");
    let Ok(tasks) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let name = stat.split_once('(')?.1.rsplit_once(')')?.0.to_owned();
            Some((tid, name, parse_process_ticks(&stat)?))
        })
        .collect()
}

/// The kernel's flag for its own threads (`PF_KTHREAD`, field 9 of `/proc/PID/stat`).
const PF_KTHREAD: u64 = 0x0020_0000;

/// CPU ticks of every user-space process except `except` (and their threads), by pid: the
/// other work on the machine, which disturbs a measurement.
pub fn other_process_ticks(except: &[u32]) -> std::collections::HashMap<u32, u64> {
    let mut ticks = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ticks;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if except.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let flags = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(6)?.parse::<u64>().ok());
        if flags.is_none_or(|f| f & PF_KTHREAD != 0) {
            continue;
        }
        if let Some(t) = parse_process_ticks(&stat) {
            ticks.insert(pid, t);
        }
    }
    ticks
}

/// The resident set size of process `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let text = read(&format!("/proc/{pid}/status"))?;
    parse_rss_bytes(&text).ok_or_else(|| BenchError::Parse {
        what: format!("/proc/{pid}/status"),
        text,
    })
}

/// [`rss_bytes`] from the text of `/proc/PID/status`.
pub fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory the kernel could give to new allocations without swapping, in bytes
/// (`MemAvailable` of `/proc/meminfo`).
pub fn available_memory_bytes() -> Result<u64> {
    let text = read("/proc/meminfo")?;
    parse_available_memory_bytes(&text).ok_or_else(|| BenchError::Parse {
        what: "/proc/meminfo".into(),
        text,
    })
}

/// [`available_memory_bytes`] from the text of `/proc/meminfo`.
pub fn parse_available_memory_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))
}

/// The CPU counters at one moment.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    at: Instant,
    cores: Vec<u64>,
    gateway: Option<u64>,
    others: std::collections::HashMap<u32, u64>,
    call_interrupts: Vec<u64>,
}

/// CPU use between two snapshots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuUsage {
    /// Wall-clock seconds between the snapshots.
    pub wall_seconds: f64,
    /// Busy seconds of each core (wall-clock time less idle, iowait and steal).
    pub core_busy_seconds: Vec<f64>,
    /// CPU seconds of the gateway process, if one was watched.
    pub gateway_seconds: Option<f64>,
    /// CPU seconds of every other user-space process (not the benchmark, not the gateway):
    /// noise.
    pub other_seconds: f64,
    /// Function-call interrupts each core received (empty if `/proc/interrupts` has none).
    pub core_call_interrupts: Vec<u64>,
}

impl CpuSnapshot {
    /// Reads the counters now; `gateway` is the gateway's pid, if one runs.
    pub fn take(gateway: Option<u32>) -> Result<Self> {
        let gateway_pid = gateway;
        let gateway = match gateway {
            Some(pid) => Some(process_ticks(pid)?),
            None => None,
        };
        let mut ours = vec![std::process::id()];
        ours.extend(gateway_pid);
        Ok(CpuSnapshot {
            at: Instant::now(),
            cores: core_idle_ticks()?,
            gateway,
            others: other_process_ticks(&ours),
            // A figure to show, not one to fail on: missing counts show as "-".
            call_interrupts: core_call_interrupts().unwrap_or_default(),
        })
    }

    /// What was used from `self` until `later`.
    pub fn until(&self, later: &CpuSnapshot) -> CpuUsage {
        let hz = ticks_per_second();
        let wall_seconds = later.at.duration_since(self.at).as_secs_f64();
        CpuUsage {
            wall_seconds,
            core_busy_seconds: self
                .cores
                .iter()
                .zip(&later.cores)
                .map(|(a, b)| (wall_seconds - b.saturating_sub(*a) as f64 / hz).max(0.0))
                .collect(),
            gateway_seconds: match (self.gateway, later.gateway) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / hz),
                _ => None,
            },
            other_seconds: later
                .others
                .iter()
                .map(|(pid, &b)| b.saturating_sub(self.others.get(pid).copied().unwrap_or(0)))
                .sum::<u64>() as f64
                / hz,
            core_call_interrupts: self
                .call_interrupts
                .iter()
                .zip(&later.call_interrupts)
                .map(|(a, b)| b.saturating_sub(*a))
                .collect(),
        }
    }
}

impl CpuUsage {
    /// Busy seconds of `core` (0 if unknown).
    pub fn core_seconds(&self, core: usize) -> f64 {
        self.core_busy_seconds.get(core).copied().unwrap_or(0.0)
    }

    /// Busy share of `core` in percent of the wall time.
    pub fn core_percent(&self, core: usize) -> f64 {
        if self.wall_seconds <= 0.0 {
            return 0.0;
        }
        100.0 * self.core_seconds(core) / self.wall_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_counts_idle_iowait_and_steal() {
        let stat = "cpu  10 20 30 40 50 60 70 80 0 0\n\
                    cpu0 1 2 3 100 5 6 7 8 0 0\n\
                    cpu1 10 0 0 100 0 0 1 0 0 0\n\
                    intr 123\n";
        assert_eq!(parse_core_idle_ticks(stat), vec![100 + 5 + 8, 100]);
    }

    #[test]
    fn call_interrupts_are_the_cal_row_per_cpu_column() {
        let text = "           CPU0       CPU1       \n  \
                      0:         44          0   IO-APIC   2-edge      timer\n\
                    LOC:     123456     654321   Local timer interrupts\n\
                    CAL:      99664       6262   Function call interrupts\n\
                    TLB:          5          7   TLB shootdowns\n";
        assert_eq!(parse_call_interrupts(text), vec![99664, 6262]);
        assert_eq!(
            parse_call_interrupts("           CPU0\nLOC: 1\n"),
            Vec::<u64>::new()
        );
        assert_eq!(parse_call_interrupts(""), Vec::<u64>::new());
    }

    #[test]
    fn process_ticks_survive_spaces_and_parentheses_in_the_name() {
        let stat = "4242 (pptpd (rs) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 3 0 123 4567 89 18446744073709551615";
        assert_eq!(parse_process_ticks(stat), Some(325));
        assert_eq!(parse_process_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tpptpd-rs\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\n";
        assert_eq!(parse_rss_bytes(status), Some(5120 * 1024));
        assert_eq!(parse_rss_bytes("Name: x\n"), None);
    }

    #[test]
    fn available_memory_is_read_in_bytes() {
        let meminfo =
            "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            parse_available_memory_bytes(meminfo),
            Some(20_000_000 * 1024)
        );
        assert_eq!(parse_available_memory_bytes("MemTotal: 1 kB\n"), None);
        assert!(available_memory_bytes().unwrap() > 0);
    }

    #[test]
    fn other_processes_leave_out_the_excepted_and_kernel_threads() {
        let me = std::process::id();
        let others = other_process_ticks(&[me]);
        assert!(!others.contains_key(&me));
        // kthreadd (pid 2) is a kernel thread.
        assert!(!others.contains_key(&2));
        assert!(other_process_ticks(&[]).contains_key(&me));
    }

    #[test]
    fn this_process_is_visible() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 0);
        process_ticks(me).unwrap();
        assert!(!core_idle_ticks().unwrap().is_empty());
        assert_eq!(core_call_interrupts().unwrap().len(), online_cores());
    }
}
