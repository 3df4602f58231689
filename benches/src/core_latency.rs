//! How far apart the gateway's core and the generator's core are: the one-way time for a
//! cache line to move from one to the other, measured by two threads (one pinned on each)
//! passing a counter back and forth.
//!
//! Upstream the gateway reads every datagram the generator wrote, and downstream the
//! generator reads every datagram the gateway wrote, so this time is paid on a few cache lines
//! of every packet. On a virtual machine it is not fixed: two vCPUs may share a last-level
//! cache (tens of nanoseconds) or sit on two (an AMD EPYC's CCXs: about 180 ns), and the
//! host may move them between cells or within one. The benchmark measures it before and
//! after each cell so that a reader can tell which figures were taken under which placement.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cpu::pin_current_thread;

/// Round trips per burst; the result is the fastest burst's mean.
const ROUNDS: u64 = 200;
/// Bursts measured (the fastest counts: a burst during which either thread was preempted is
/// far slower and falls out).
const BURSTS: u64 = 40;
/// The whole measurement gives up after this long (a thread that cannot run on its core).
const GIVE_UP: Duration = Duration::from_millis(500);

/// A cache line of its own for the counter.
#[repr(align(128))]
struct Line(AtomicU64);

/// One-way cache-line transfer time between cores `a` and `b`, in nanoseconds: the fastest of
/// [`BURSTS`] bursts of [`ROUNDS`] round trips, halved. `None` when a thread could not be
/// pinned or the measurement did not finish in time (e.g. a core busy with a real-time task).
pub fn one_way_ns(a: usize, b: usize) -> Option<f64> {
    let line = Arc::new(Line(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + GIVE_UP;
    let total = ROUNDS * BURSTS;

    let (echo_line, echo_stop) = (Arc::clone(&line), Arc::clone(&stop));
    let echo = std::thread::Builder::new()
        .name("core-latency".into())
        .spawn(move || {
            if pin_current_thread(&[b]).is_err() {
                return;
            }
            for round in 0..total {
                // Odd values are pings, even values pongs.
                while echo_line.0.load(Ordering::Acquire) != 2 * round + 1 {
                    if echo_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::hint::spin_loop();
                }
                echo_line.0.store(2 * round + 2, Ordering::Release);
            }
        })
        .ok()?;

    let pinger = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Option<f64> {
                pin_current_thread(&[a]).ok()?;
                let mut fastest = f64::INFINITY;
                for burst in 0..BURSTS {
                    let start = Instant::now();
                    for k in 0..ROUNDS {
                        let round = burst * ROUNDS + k;
                        line.0.store(2 * round + 1, Ordering::Release);
                        let mut spins = 0u32;
                        while line.0.load(Ordering::Acquire) != 2 * round + 2 {
                            spins = spins.wrapping_add(1);
                            if spins.is_multiple_of(4096) && Instant::now() > deadline {
                                return None;
                            }
                            std::hint::spin_loop();
                        }
                    }
                    let one_way = start.elapsed().as_nanos() as f64 / (2 * ROUNDS) as f64;
                    fastest = fastest.min(one_way);
                }
                Some(fastest)
            })
            .join()
    });
    stop.store(true, Ordering::Relaxed);
    echo.join().ok()?;
    pinger.ok()?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_pair_gives_a_plausible_time_and_a_missing_core_none() {
        let cores = crate::cpu::online_cores();
        let b = if cores > 1 { 1 } else { 0 };
        let ns = one_way_ns(0, b).expect("the cores of this machine answer");
        // Anything from a shared L1 (same core) to a cross-socket hop; not zero, not a stall.
        assert!(ns > 1.0 && ns < 100_000.0, "{ns} ns");
        assert_eq!(one_way_ns(0, 4096), None);
    }
}
