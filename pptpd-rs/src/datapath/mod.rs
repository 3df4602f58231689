//! The data plane: GRE ⇄ MPPE ⇄ TUN on worker threads (RFC 2637 §4, RFC 3078).
//!
//! Sessions are sharded by call ID: worker `i` of `n` owns every call whose ID
//! is `i` modulo `n`; its GRE socket's BPF filter only lets those calls in, and
//! only it touches their cipher state. The control plane talks to workers with
//! [`Command`]s and hears back through each session's [`EventSender`]. See
//! `worker` for the loop and `session` for the per-packet work.

pub mod checksum;
pub mod clock;
pub mod frame_socket;
pub mod gre_socket;
pub mod handoff;
pub mod raw_syscall;
pub mod session;
pub mod tun_coalesce;
pub mod tun_device;
pub mod tun_read;
pub mod tun_steering;
pub mod wake;
pub mod worker;

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mschap::MppeConfig;
use pptp_proto::CallId;
use tracing::{info, warn};

use frame_socket::{FrameSocket, LinkRoute};
use gre_socket::GreSocket;
use handoff::Handoff;
use session::DataSession;
use tun_device::TunQueue;
use tun_steering::TunSteering;
use wake::Wake;
use worker::Worker;

/// What a worker reports to a session's control task.
#[derive(Debug)]
pub enum DataEvent {
    /// A PPP control frame (LCP, CHAP, CCP, IPCP, or an unknown protocol) from the peer.
    Frame(Vec<u8>),
    /// The stateful MPPE receiver lost sync: send a CCP Reset-Request.
    ResyncNeeded,
}

/// The channel a worker reports on: the session's control task listens.
pub type EventSender = tokio::sync::mpsc::Sender<(CallId, DataEvent)>;

/// Instructions from the control plane to a worker.
pub enum Command {
    /// Start demultiplexing GRE for this call.
    AddSession {
        /// The call's data-plane state.
        session: DataSession,
        /// Where the worker reports control frames.
        events: EventSender,
    },
    /// CCP opened with MPPE: install the ciphers.
    SetKeys {
        /// Our call ID.
        call_id: CallId,
        /// Our send start key.
        send: [u8; 16],
        /// Our receive start key.
        recv: [u8; 16],
        /// Strength and statefulness.
        config: MppeConfig,
    },
    /// MPPE is off by configuration: let IPv4 through in cleartext.
    SetCleartext {
        /// Our call ID.
        call_id: CallId,
    },
    /// Send a PPP control frame to the peer.
    SendFrame {
        /// Our call ID.
        call_id: CallId,
        /// The complete PPP frame.
        frame: Vec<u8>,
    },
    /// The peer sent a CCP Reset-Request.
    ResetEncryptor {
        /// Our call ID.
        call_id: CallId,
    },
    /// Send the call's data as finished frames along `route` (`gre-direct`), or
    /// through the raw socket again (`None`).
    SetLinkRoute {
        /// Our call ID.
        call_id: CallId,
        /// The session's next hop on the link, as last looked up.
        route: Option<LinkRoute>,
    },
    /// Forget the call.
    RemoveSession {
        /// Our call ID.
        call_id: CallId,
    },
    /// Packets for `client` belong to `call_id`, owned by worker `owner` (sent to every worker).
    RouteAdd {
        /// The client's tunnel address.
        client: Ipv4Addr,
        /// Our call ID.
        call_id: CallId,
        /// The owning worker.
        owner: usize,
    },
    /// Forget the client address (sent to every worker).
    RouteDel {
        /// The client's tunnel address.
        client: Ipv4Addr,
        /// The call it belonged to (a newer call may have taken the address since).
        call_id: CallId,
    },
    /// Leave the loop.
    Stop,
}

struct WorkerHandle {
    commands: Sender<Command>,
    wake: Arc<Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Client addresses the TUN steering map can hold: one per possible call.
const STEERED_CLIENTS: u32 = 1 << 16;

/// The running workers.
pub struct DataPlane {
    workers: Vec<WorkerHandle>,
    direct: bool,
    /// What steers each client's packets to its worker's TUN queue (`None`: not allowed here).
    steering: Option<TunSteering>,
    /// The call each steered client address belongs to (a newer call may take an address
    /// before the older one's route is removed).
    steered: Mutex<HashMap<Ipv4Addr, CallId>>,
}

impl DataPlane {
    /// Starts one worker per TUN queue, each with its own GRE socket and, with
    /// `direct` (`gre-direct yes`), its own packet socket for framed data.
    pub fn start(
        tun_queues: Vec<TunQueue>,
        listen: Option<Ipv4Addr>,
        direct: bool,
    ) -> io::Result<Self> {
        let n = tun_queues.len();
        // Every worker gets a packet socket, or none does (`direct()` tells the control plane).
        let frame_sockets: Vec<FrameSocket> = if direct {
            (0..n)
                .map(|_| FrameSocket::open())
                .collect::<io::Result<_>>()
                .unwrap_or_else(|e| {
                    warn!("gre-direct: {e}; data goes through the IP stack");
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        let direct = !frame_sockets.is_empty();
        let mut frame_sockets = frame_sockets.into_iter();
        let steering = steer(&tun_queues);
        let shards = u16::try_from(n).map_err(|_| io::Error::other("too many workers"))?;
        let wakes: Vec<Arc<Wake>> = (0..n)
            .map(|_| Wake::new().map(Arc::new))
            .collect::<io::Result<_>>()?;
        let handoffs: Vec<Arc<Handoff>> = wakes
            .iter()
            .map(|w| Arc::new(Handoff::new(w.clone())))
            .collect();
        let mut workers = Vec::with_capacity(n);
        for (i, tun) in tun_queues.into_iter().enumerate() {
            let gre = GreSocket::open(listen)?;
            gre.attach_shard_filter(i as u16, shards)?;
            let frames = frame_sockets.next();
            let (tx, rx) = mpsc::channel();
            let worker = Worker::new(
                i,
                (gre, frames),
                tun,
                rx,
                wakes[i].clone(),
                handoffs[i].clone(),
                handoffs.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("pptpd-dp{i}"))
                .spawn(move || worker.run())?;
            workers.push(WorkerHandle {
                commands: tx,
                wake: wakes[i].clone(),
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(Self {
            workers,
            direct,
            steering,
            steered: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the workers send data as finished frames (`gre-direct yes` and a
    /// packet socket for each).
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// How many workers run.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The worker that owns a call.
    pub fn owner(&self, call_id: CallId) -> usize {
        usize::from(call_id.0) % self.workers.len().max(1)
    }

    /// Sends a command to the worker that owns `call_id`.
    pub fn send(&self, call_id: CallId, command: Command) {
        self.send_to(self.owner(call_id), command);
    }

    fn send_to(&self, worker: usize, command: Command) {
        if let Some(w) = self.workers.get(worker)
            && w.commands.send(command).is_ok()
        {
            w.wake.notify();
        }
    }

    /// Routes `client` to the call on every worker.
    pub fn add_route(&self, client: Ipv4Addr, call_id: CallId) {
        let owner = self.owner(call_id);
        if let Some(steering) = &self.steering {
            let mut steered = self.steered.lock().unwrap_or_else(|e| e.into_inner());
            steered.insert(client, call_id);
            if let Err(e) = steering.set(client, owner as u32) {
                warn!("TUN steering: {client} not added ({e}); its packets are handed over");
            }
        }
        for i in 0..self.workers.len() {
            self.send_to(
                i,
                Command::RouteAdd {
                    client,
                    call_id,
                    owner,
                },
            );
        }
    }

    /// Removes `client`'s route on every worker.
    pub fn remove_route(&self, client: Ipv4Addr, call_id: CallId) {
        if let Some(steering) = &self.steering {
            let mut steered = self.steered.lock().unwrap_or_else(|e| e.into_inner());
            if steered.get(&client) == Some(&call_id) {
                steered.remove(&client);
                if let Err(e) = steering.remove(client) {
                    warn!("TUN steering: {client} not removed: {e}");
                }
            }
        }
        for i in 0..self.workers.len() {
            self.send_to(i, Command::RouteDel { client, call_id });
        }
    }

    /// Stops every worker and waits for them.
    pub fn stop(&self) {
        for i in 0..self.workers.len() {
            self.send_to(i, Command::Stop);
        }
        for w in &self.workers {
            let thread = w.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(t) = thread {
                let _ = t.join();
            }
        }
    }
}

/// Loads and attaches the TUN steering program; `None`, with the reason logged, where the
/// kernel or the capabilities do not allow it (the workers then hand packets over).
fn steer(queues: &[TunQueue]) -> Option<TunSteering> {
    let steered = TunSteering::load(STEERED_CLIENTS).and_then(|steering| {
        if let Some(queue) = queues.first() {
            steering.attach(queue.as_fd())?;
        }
        Ok(steering)
    });
    match steered {
        Ok(steering) => {
            info!("TUN steering on: each client's packets leave on its worker's queue");
            Some(steering)
        }
        Err(e) => {
            info!(
                "TUN steering off ({e}; it needs CAP_BPF): the kernel spreads packets over \
                 the queues by flow and workers hand over the ones that are not theirs"
            );
            None
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
