//! One raw IPv4 GRE socket (IP protocol 47, RFC 2637 §4.1) shared by every tunnel of the
//! process, and the demultiplexer that hands each received GRE packet to the session it
//! belongs to.
//!
//! A raw socket receives every GRE datagram the host gets, IPv4 header included (the kernel
//! has already checked its checksum and reassembled fragments). RFC 2637 §4.1: the low half of
//! the Key "Contains the Peer's Call ID for the session to which this packet belongs", that is
//! ours on the packets we receive, so the Call ID names the session; a datagram is delivered
//! only if it also comes from that session's server (the address of its control connection),
//! so that nobody else can inject packets into a call. Each session registers with a Call ID that the demultiplexer picks at random among the free
//! ones, so thousands of sessions share one socket and one receive task, and a received
//! datagram costs one copy into the session's bounded queue (a full queue drops it, as a
//! congested link would).
//!
//! Sending needs no bookkeeping: the kernel builds the IPv4 header (`IP_HDRINCL` is off) and
//! picks the source address from the route to the server, the same one the TCP connection
//! uses.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, Ipv4Envelope};
use rand::Rng;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ClientError;

/// IP protocol number of GRE.
const IPPROTO_GRE: i32 = 47;
/// The largest IPv4 datagram the socket can return.
const MAX_DATAGRAM: usize = 65535;
/// GRE packets queued per session before the demultiplexer drops more.
const SESSION_QUEUE: usize = 1024;
/// Kernel socket buffers: bursts from many sessions must not overflow the default 208 KiB.
const SOCKET_BUFFER: usize = 8 << 20;

/// Counters of the demultiplexer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MuxStats {
    /// Datagrams read from the socket.
    pub received: u64,
    /// GRE packets handed to a session.
    pub delivered: u64,
    /// Datagrams that were not a whole enhanced GRE packet.
    pub malformed: u64,
    /// GRE packets for a Call ID no session has.
    pub unknown_call: u64,
    /// GRE packets for a session's Call ID from an address other than its server.
    pub wrong_source: u64,
    /// GRE packets dropped because the session's queue was full.
    pub overflow: u64,
    /// GRE packets sent.
    pub sent: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    delivered: AtomicU64,
    malformed: AtomicU64,
    unknown_call: AtomicU64,
    wrong_source: AtomicU64,
    overflow: AtomicU64,
    sent: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Where the GRE packets of one Call ID go.
#[derive(Debug)]
struct Route {
    server: Ipv4Addr,
    queue: mpsc::Sender<Vec<u8>>,
}

/// The socket and the routing table, shared by the receive task and every handle.
#[derive(Debug)]
struct MuxCore {
    socket: AsyncFd<Socket>,
    routes: Mutex<HashMap<u16, Route>>,
    counters: Counters,
}

impl MuxCore {
    fn routes(&self) -> MutexGuard<'_, HashMap<u16, Route>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands one received datagram (IPv4 header included) to its session.
    fn dispatch(&self, datagram: &[u8]) {
        bump(&self.counters.received);
        let Ok((envelope, _)) = Ipv4Envelope::parse(datagram) else {
            return bump(&self.counters.malformed);
        };
        let gre = envelope.payload(datagram);
        let Ok((header, _)) = GreHeader::parse(gre) else {
            return bump(&self.counters.malformed);
        };
        let routes = self.routes();
        let Some(route) = routes.get(&header.call_id.0) else {
            return bump(&self.counters.unknown_call);
        };
        if route.server != envelope.src {
            return bump(&self.counters.wrong_source);
        }
        match route.queue.try_send(gre.to_vec()) {
            Ok(()) => bump(&self.counters.delivered),
            Err(mpsc::error::TrySendError::Full(_)) => bump(&self.counters.overflow),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Reads datagrams until the socket fails; each goes to [`MuxCore::dispatch`].
async fn receive_loop(core: Arc<MuxCore>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let mut guard = match core.socket.readable().await {
            Ok(guard) => guard,
            Err(error) => {
                tracing::error!(%error, "GRE socket failed");
                return;
            }
        };
        loop {
            match guard.try_io(|socket| {
                let mut reader: &Socket = socket.get_ref();
                reader.read(&mut buf)
            }) {
                Ok(Ok(len)) => core.dispatch(buf.get(..len).unwrap_or_default()),
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "GRE receive error");
                    break;
                }
                Err(_would_block) => break,
            }
        }
    }
}

/// Registers the socket with tokio's reactor.
#[allow(unsafe_code)]
fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `AsyncFd::register` requires that the file descriptor stays open and is not
    // replaced while registered. The `Socket` owns it and moves into the `AsyncFd`, which
    // only closes it when dropped, after deregistering.
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}

/// Aborts the receive task when the last [`GreMux`] handle goes.
#[derive(Debug)]
struct ReceiveTask(JoinHandle<()>);

impl Drop for ReceiveTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One raw GRE socket shared by many tunnels. Cloning is cheap; the socket and its receive
/// task live until the last clone is dropped.
#[derive(Clone, Debug)]
pub struct GreMux {
    core: Arc<MuxCore>,
    _task: Arc<ReceiveTask>,
}

impl GreMux {
    /// Opens the raw GRE socket (needs `CAP_NET_RAW`) and starts its receive task on the
    /// current tokio runtime.
    pub fn open() -> io::Result<Self> {
        GreMux::open_on(None)
    }

    /// Like [`open`](Self::open), bound to the local address `local` when given.
    pub fn open_on(local: Option<Ipv4Addr>) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))?;
        socket.set_nonblocking(true)?;
        // Larger buffers are a nicety; the defaults work.
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
        if let Some(address) = local {
            socket.bind(&SockAddr::from(SocketAddrV4::new(address, 0)))?;
        }
        let core = Arc::new(MuxCore {
            socket: register(socket)?,
            routes: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        let task = tokio::spawn(receive_loop(Arc::clone(&core)));
        Ok(GreMux {
            core,
            _task: Arc::new(ReceiveTask(task)),
        })
    }

    /// Registers a new session with the server at `server`: picks a random free Call ID
    /// (never 0, which the Linux kernel reads as "pick one") and returns the registration
    /// through which that session receives its GRE packets.
    pub fn register(&self, server: Ipv4Addr) -> Result<CallRegistration, ClientError> {
        let mut routes = self.core.routes();
        if routes.len() >= usize::from(u16::MAX) {
            return Err(ClientError::NoCallId);
        }
        let mut rng = rand::rng();
        let call_id = loop {
            let candidate: u16 = rng.random();
            if candidate != 0 && !routes.contains_key(&candidate) {
                break candidate;
            }
        };
        let (queue, receiver) = mpsc::channel(SESSION_QUEUE);
        routes.insert(call_id, Route { server, queue });
        Ok(CallRegistration {
            mux: self.clone(),
            call_id: CallId(call_id),
            server,
            receiver,
        })
    }

    /// Sends one GRE packet (no IPv4 header) to `dst`, waiting while the socket's send buffer
    /// is full.
    pub async fn send(&self, dst: Ipv4Addr, gre: &[u8]) -> io::Result<()> {
        let address = SockAddr::from(SocketAddrV4::new(dst, 0));
        loop {
            let mut guard = self.core.socket.writable().await?;
            match guard.try_io(|socket| socket.get_ref().send_to(gre, &address)) {
                Ok(result) => {
                    result?;
                    bump(&self.core.counters.sent);
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Attaches a classic BPF program to the socket (`SO_ATTACH_FILTER`, replacing any
    /// earlier one): datagrams it rejects are dropped by the kernel before they are queued, so
    /// they cost the receive task nothing. A benchmark that counts a tunnel's data packets on a
    /// socket of its own uses this to keep only the control traffic here. The program sees each
    /// datagram from its IPv4 header on.
    pub fn attach_filter(&self, program: &[socket2::SockFilter]) -> io::Result<()> {
        self.core.socket.get_ref().attach_filter(program)
    }

    /// The number of registered sessions.
    pub fn sessions(&self) -> usize {
        self.core.routes().len()
    }

    /// The counters so far.
    pub fn stats(&self) -> MuxStats {
        let c = &self.core.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MuxStats {
            received: load(&c.received),
            delivered: load(&c.delivered),
            malformed: load(&c.malformed),
            unknown_call: load(&c.unknown_call),
            wrong_source: load(&c.wrong_source),
            overflow: load(&c.overflow),
            sent: load(&c.sent),
        }
    }
}

/// One session's place in the [`GreMux`]: its Call ID and the queue of GRE packets received
/// for it (IPv4 header removed). Dropping it frees the Call ID.
#[derive(Debug)]
pub struct CallRegistration {
    mux: GreMux,
    call_id: CallId,
    server: Ipv4Addr,
    receiver: mpsc::Receiver<Vec<u8>>,
}

impl CallRegistration {
    /// Our Call ID: the Key of every GRE packet the server sends us.
    pub fn call_id(&self) -> CallId {
        self.call_id
    }

    /// The server address GRE packets must come from.
    pub fn server(&self) -> Ipv4Addr {
        self.server
    }

    /// The mux this registration belongs to.
    pub fn mux(&self) -> &GreMux {
        &self.mux
    }

    /// The next GRE packet for this session.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.receiver.recv().await
    }
}

impl Drop for CallRegistration {
    fn drop(&mut self) {
        self.mux.core.routes().remove(&self.call_id.0);
    }
}
