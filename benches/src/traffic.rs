//! The measurement loop of one cell: a source sends each flow's packets, a sink counts them at
//! the far end, and both run on one thread on the traffic core, so the generator never competes
//! with its own receiver for the core and needs no locks.
//!
//! Flow control: each flow keeps at most a window of packets in flight (sent and not yet seen
//! by the sink). The gateway is then kept busy (its socket always holds a few thousand
//! packets) without being flooded: with stateless MPPE a run of more than 2048 lost packets
//! would leave its decryptor behind for good (RFC 3078 §7.1, the 12-bit coherency window), and
//! a flood only measures how the kernel drops. A later packet of a flow passes its lost ones
//! (the sink reports the highest sequence number), but when a flow's newest packets are lost
//! nothing passes them: the flow's packets in flight are written off once the flows of its queue
//! (a gateway worker's socket or TUN queue, first in, first out) have received more than
//! everything that can be in flight since it last sent, or after [`STALL`].

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::core_latency;
use crate::cpu::{
    CpuSnapshot, CpuUsage, GATEWAY_CORE, TRAFFIC_CORE, thread_ticks, ticks_per_second,
};
use crate::error::Result;
use crate::mmsg::BATCH;

/// Packets in flight for all flows together: enough to keep the gateway's batches full, few
/// enough not to overflow the default queues in front of it (a core's receive backlog holds
/// 1000 packets, `net.core.netdev_max_backlog`; a TUN device's queue 500, its `txqueuelen`).
pub const TOTAL_WINDOW: u64 = 512;
/// The largest window of one flow: with the write-off below, a stateless MPPE receiver never
/// sees a gap of more than twice this.
pub const MAX_FLOW_WINDOW: u64 = 512;
/// The smallest window of one flow.
pub const MIN_FLOW_WINDOW: u64 = 8;
/// How long a flow with a full window may see nothing arrive before its packets in flight
/// are counted as lost, whatever the other flows do.
pub const STALL: Duration = Duration::from_millis(100);
/// How long the receiver keeps counting after the last packet was sent.
const DRAIN_QUIET: Duration = Duration::from_millis(100);
/// The longest drain.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// The window of each flow when `flows` share [`TOTAL_WINDOW`].
pub fn flow_window(flows: usize) -> u64 {
    (TOTAL_WINDOW / flows.max(1) as u64).clamp(MIN_FLOW_WINDOW, MAX_FLOW_WINDOW)
}

/// What a sink knows about one flow so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowReceived {
    /// Packets received.
    pub count: u64,
    /// The highest payload sequence number received, if the sink reads them.
    pub highest: Option<u64>,
}

/// Sends packets of the cell's flows.
pub trait Source {
    /// Sends what `plan` lists (flow, packets), in order, and adds what went out to `sent`.
    fn send(&mut self, plan: &[(usize, usize)], sent: &mut [u64]) -> Result<()>;
    /// The payload sequence number of `flow`'s first packet in this cell, if the sink can read
    /// sequence numbers.
    fn first_seq(&self, flow: usize) -> Option<u64>;
    /// Whether `flow` has nothing more to send (a precomputed stream is used up).
    fn exhausted(&self, _flow: usize) -> bool {
        false
    }
}

/// Counts the cell's packets at the far end.
pub trait Sink {
    /// Takes what has arrived, without waiting; returns the number of packets.
    fn receive(&mut self, flows: &mut [FlowReceived]) -> Result<usize>;
    /// Waits up to `timeout` for something to arrive.
    fn wait(&self, timeout: Duration);
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Traffic before the measurement starts.
    pub warmup: Duration,
    /// The measurement.
    pub duration: Duration,
}

/// CPU seconds of one gateway thread during the measurement.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ThreadCpu {
    /// The thread's name (`pptpd-dp0` is data-path worker 0).
    pub name: String,
    /// CPU seconds.
    pub seconds: f64,
}

/// What one cell measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Packets sent over the whole cell (warm-up included).
    pub sent: u64,
    /// Packets received over the whole cell, after draining.
    pub received: u64,
    /// Packets received during the measurement, per flow.
    pub window_received: Vec<u64>,
    /// Packets sent during the measurement.
    pub window_sent: u64,
    /// CPU use during the measurement.
    pub cpu: CpuUsage,
    /// CPU use of each gateway thread during the measurement.
    pub threads: Vec<ThreadCpu>,
    /// The sources ran out before the measurement ended (it was cut short).
    pub exhausted: bool,
    /// Seconds from the first packet sent to the end of the measurement (warm-up included).
    pub elapsed: f64,
    /// One-way cache-line time between the gateway's and the generator's cores before the
    /// cell and after it, in nanoseconds (see [`crate::core_latency`]).
    pub core_to_core_ns: [Option<f64>; 2],
}

impl Measured {
    /// Packets received during the measurement, all flows.
    pub fn window_total(&self) -> u64 {
        self.window_received.iter().sum()
    }

    /// Packets received per second over the whole cell (warm-up included).
    pub fn overall_rate(&self) -> f64 {
        self.received as f64 / self.elapsed.max(1e-9)
    }
}

/// The counters when the measurement starts.
struct Opening {
    cpu: CpuSnapshot,
    threads: Vec<(u32, String, u64)>,
    received: Vec<u64>,
    sent: u64,
}

/// Runs one cell: warm-up, measurement, drain. `gateway` is the pid whose CPU is charged;
/// `queues[f]` is the queue (gateway worker) flow `f` goes through, first in, first out
/// within a queue (empty: one queue).
pub fn run_cell(
    source: &mut dyn Source,
    sink: &mut dyn Sink,
    flows: usize,
    timing: Timing,
    gateway: Option<u32>,
    queues: &[usize],
) -> Result<Measured> {
    let window = flow_window(flows);
    let chunk = window.min(BATCH as u64) as usize;
    let mut sent = vec![0u64; flows];
    let mut written_off = vec![0u64; flows];
    let mut received = vec![FlowReceived::default(); flows];
    let mut last_through = vec![0u64; flows];
    // Packets of each flow's queue received, now and when the flow last sent.
    let queue_of = |flow: usize| queues.get(flow).copied().unwrap_or(0);
    let mut queue_received = vec![0u64; (0..flows).map(queue_of).max().unwrap_or(0) + 1];
    let mut received_at_send = vec![0u64; flows];
    let flushed = TOTAL_WINDOW.max(window * flows as u64) + window;
    let first_seq: Vec<Option<u64>> = (0..flows).map(|f| source.first_seq(f)).collect();
    let mut plan = Vec::with_capacity(BATCH);
    let mut next_flow = 0;
    let core_to_core_before = core_latency::one_way_ns(GATEWAY_CORE, TRAFFIC_CORE);

    let start = Instant::now();
    let mut last_progress = vec![start; flows];
    let measure_from = start + timing.warmup;
    let measure_until = measure_from + timing.duration;
    let mut opening: Option<Opening> = None;
    let mut measured = Measured::default();
    loop {
        crate::interrupt::check()?;
        let now = Instant::now();
        let all_exhausted = (0..flows).all(|f| source.exhausted(f));
        if opening.is_none() && (now >= measure_from || all_exhausted) {
            let counts = received.iter().map(|r| r.count).collect();
            let threads = gateway.map(thread_ticks).unwrap_or_default();
            opening = Some(Opening {
                cpu: CpuSnapshot::take(gateway)?,
                threads,
                received: counts,
                sent: sent.iter().sum(),
            });
        }
        if let Some(opening) = &opening
            && (now >= measure_until || all_exhausted)
        {
            let closing = CpuSnapshot::take(gateway)?;
            measured.cpu = opening.cpu.until(&closing);
            measured.threads = gateway
                .map(|pid| thread_delta(&opening.threads, &thread_ticks(pid)))
                .unwrap_or_default();
            measured.window_received = received
                .iter()
                .zip(&opening.received)
                .map(|(r, before)| r.count - before)
                .collect();
            measured.window_sent = sent.iter().sum::<u64>() - opening.sent;
            measured.exhausted = all_exhausted && now < measure_until;
            measured.elapsed = now.duration_since(start).as_secs_f64();
            break;
        }

        let mut arrived = 0;
        for _ in 0..8 {
            let n = sink.receive(&mut received)?;
            arrived += n;
            if n == 0 {
                break;
            }
        }
        if arrived > 0 {
            queue_received.iter_mut().for_each(|n| *n = 0);
            for (flow, r) in received.iter().enumerate() {
                queue_received[queue_of(flow)] += r.count;
            }
        }

        plan.clear();
        let mut budget = BATCH;
        for k in 0..flows {
            let flow = (next_flow + k) % flows;
            let through = through(&received[flow], first_seq[flow]);
            if through > last_through[flow] {
                last_through[flow] = through;
                last_progress[flow] = now;
            }
            let in_flight = sent[flow].saturating_sub(through + written_off[flow]);
            if in_flight >= window {
                let overtaken = queue_received[queue_of(flow)] - received_at_send[flow] > flushed;
                if overtaken || now.duration_since(last_progress[flow]) > STALL {
                    written_off[flow] += in_flight;
                    last_progress[flow] = now;
                }
                continue;
            }
            if source.exhausted(flow) {
                continue;
            }
            let n = ((window - in_flight) as usize).min(chunk).min(budget);
            plan.push((flow, n));
            budget -= n;
            if budget == 0 {
                next_flow = flow + 1;
                break;
            }
        }
        if !plan.is_empty() {
            source.send(&plan, &mut sent)?;
            for &(flow, _) in &plan {
                received_at_send[flow] = queue_received[queue_of(flow)];
            }
        } else if arrived == 0 {
            sink.wait(Duration::from_millis(1));
        }
    }

    // Drain: count what is still on its way.
    let drain_start = Instant::now();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < DRAIN_QUIET && drain_start.elapsed() < DRAIN_MAX {
        if sink.receive(&mut received)? > 0 {
            quiet_since = Instant::now();
        } else {
            sink.wait(Duration::from_millis(5));
        }
    }
    measured.sent = sent.iter().sum();
    measured.received = received.iter().map(|r| r.count).sum();
    measured.core_to_core_ns = [
        core_to_core_before,
        core_latency::one_way_ns(GATEWAY_CORE, TRAFFIC_CORE),
    ];
    Ok(measured)
}

/// Packets of a flow known to be through: received, or passed by a later sequence number.
fn through(received: &FlowReceived, first_seq: Option<u64>) -> u64 {
    match (received.highest, first_seq) {
        (Some(highest), Some(first)) if highest >= first => received.count.max(highest - first + 1),
        _ => received.count,
    }
}

fn thread_delta(before: &[(u32, String, u64)], after: &[(u32, String, u64)]) -> Vec<ThreadCpu> {
    let hz = ticks_per_second();
    let mut threads: Vec<ThreadCpu> = after
        .iter()
        .map(|(tid, name, ticks)| {
            let earlier = before
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or(0, |(_, _, t)| *t);
            ThreadCpu {
                name: name.clone(),
                seconds: ticks.saturating_sub(earlier) as f64 / hz,
            }
        })
        .filter(|t| t.seconds > 0.0)
        .collect();
    threads.sort_by(|a, b| a.name.cmp(&b.name));
    threads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_share_the_total_within_bounds() {
        assert_eq!(flow_window(1), MAX_FLOW_WINDOW);
        assert_eq!(flow_window(4), TOTAL_WINDOW / 4);
        assert_eq!(flow_window(64), 8);
        assert_eq!(flow_window(1000), MIN_FLOW_WINDOW);
        // A flow's window lost whole, then a full stride skipped: still within the 2048
        // counts a stateless MPPE receiver can follow.
        assert!(MAX_FLOW_WINDOW + crate::tunnel_flows::SKIP_STRIDE as u64 <= 2000);
    }

    #[test]
    fn a_later_sequence_number_passes_the_lost_ones() {
        let seen = FlowReceived {
            count: 5,
            highest: Some(109),
        };
        assert_eq!(through(&seen, Some(100)), 10);
        assert_eq!(through(&seen, None), 5);
        let counted = FlowReceived {
            count: 7,
            highest: None,
        };
        assert_eq!(through(&counted, Some(100)), 7);
    }

    /// A loss-free loop-back: what is sent arrives at once.
    #[derive(Default)]
    struct Path {
        pending: Vec<(usize, u64)>,
        next: Vec<u64>,
    }

    struct Sender(Rc<RefCell<Path>>);
    struct Receiver(Rc<RefCell<Path>>);

    impl Source for Sender {
        fn send(&mut self, plan: &[(usize, usize)], sent: &mut [u64]) -> Result<()> {
            let mut path = self.0.borrow_mut();
            for &(flow, n) in plan {
                for _ in 0..n {
                    let seq = path.next[flow];
                    path.pending.push((flow, seq));
                    path.next[flow] += 1;
                }
                sent[flow] += n as u64;
            }
            Ok(())
        }
        fn first_seq(&self, _flow: usize) -> Option<u64> {
            Some(0)
        }
    }

    impl Sink for Receiver {
        fn receive(&mut self, flows: &mut [FlowReceived]) -> Result<usize> {
            let pending = std::mem::take(&mut self.0.borrow_mut().pending);
            for &(flow, seq) in &pending {
                flows[flow].count += 1;
                flows[flow].highest = Some(seq);
            }
            Ok(pending.len())
        }
        fn wait(&self, timeout: Duration) {
            std::thread::sleep(timeout);
        }
    }

    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn the_loop_measures_a_perfect_path_without_loss() {
        let path = Rc::new(RefCell::new(Path {
            pending: Vec::new(),
            next: vec![0; 3],
        }));
        let mut source = Sender(Rc::clone(&path));
        let mut sink = Receiver(path);
        let timing = Timing {
            warmup: Duration::from_millis(10),
            duration: Duration::from_millis(30),
        };
        let measured = run_cell(&mut source, &mut sink, 3, timing, None, &[]).unwrap();
        assert!(measured.sent > 0);
        assert_eq!(measured.sent, measured.received);
        assert!(measured.window_total() > 0);
        assert!(
            measured.window_received.iter().all(|&n| n > 0),
            "every flow moved"
        );
        assert!(!measured.exhausted);
    }
}
