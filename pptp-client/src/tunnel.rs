//! One PPTP tunnel on tokio: the IO shell around a [`ClientSession`]. It owns the TCP control
//! connection to port 1723 and a [`CallRegistration`] on a shared [`GreMux`], and runs a driver
//! task that moves bytes and time into the session, so that LCP and control-connection echoes
//! are answered (RFC 1661 §5.8, RFC 2637 §2.5) while the tunnel sits idle.
//!
//! IP datagrams are sent directly by the caller ([`Tunnel::send_ip`], encrypted under the
//! session's lock, then one `sendto`), and received through a bounded queue that the driver
//! fills with decrypted datagrams ([`Tunnel::recv_ip`]), each in the buffer it arrived in.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::{Deref, Range};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mschap::MppeStartKeys;
use ppp_core::MppePolicy;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::closure::Closure;
use crate::error::ClientError;
use crate::mux::{CallRegistration, GreMux};
use crate::session::{ClientSession, DataStats, LinkInfo, SessionConfig, SessionEvent};

/// Decrypted datagrams queued for [`Tunnel::recv_ip`] before more are dropped.
const RECEIVE_QUEUE: usize = 1024;
/// pppd's `lcp-echo-interval` in pptp-linux setups (`lcp-echo-interval 30`).
const ECHO_INTERVAL: Duration = Duration::from_secs(30);

/// How to reach and log in to a PPTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The server's control address (port 1723).
    pub server: SocketAddrV4,
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// What MPPE to negotiate (default: `require-mppe-128`).
    pub mppe: MppePolicy,
    /// From the TCP connect to the link being up.
    pub timeout: Duration,
    /// Send our own LCP Echo-Requests every 30 s (the server's are always answered).
    pub echo: bool,
    /// How long the teardown may take (hang-up, or after a failure).
    pub teardown_timeout: Duration,
    /// Delay before an acknowledgement-only GRE packet.
    pub ack_delay: Duration,
}

impl ConnectOptions {
    /// Options for `user`/`password` at `server`, with pptp-linux's defaults: MPPE-128
    /// required, 10 s to come up, no LCP echoes of our own.
    pub fn new(server: SocketAddrV4, user: &str, password: &str) -> Self {
        let defaults = SessionConfig::new(user, password);
        ConnectOptions {
            server,
            user: user.to_owned(),
            password: password.to_owned(),
            mppe: defaults.mppe,
            timeout: defaults.connect_timeout,
            echo: false,
            teardown_timeout: defaults.teardown_timeout,
            ack_delay: defaults.ack_delay,
        }
    }

    /// The session configuration these options describe.
    pub fn session_config(&self) -> SessionConfig {
        let mut config = SessionConfig::new(&self.user, &self.password);
        config.mppe = self.mppe;
        config.connect_timeout = self.timeout;
        config.control.timeouts.establish = self.timeout;
        config.control.timeouts.call_reply = self.timeout;
        config.teardown_timeout = self.teardown_timeout;
        config.ack_delay = self.ack_delay;
        config.echo_interval = self.echo.then_some(ECHO_INTERVAL);
        config
    }
}

/// A received IPv4 datagram, decrypted in the buffer it arrived in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPacket {
    buf: Vec<u8>,
    range: Range<usize>,
}

impl IpPacket {
    /// The datagram in a vector of its own (no copy if it already is one).
    pub fn into_vec(self) -> Vec<u8> {
        if self.range.start == 0 && self.range.end == self.buf.len() {
            return self.buf;
        }
        self.buf.get(self.range).unwrap_or_default().to_vec()
    }
}

impl Deref for IpPacket {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.get(self.range.clone()).unwrap_or_default()
    }
}

impl AsRef<[u8]> for IpPacket {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Where the tunnel is, as the driver reports it.
#[derive(Clone, Debug)]
enum Status {
    Connecting,
    Up(LinkInfo),
    Closed(Closure),
}

/// What the tunnel handle asks of its driver.
#[derive(Debug)]
enum Command {
    HangUp,
}

/// What the handles and the driver share.
#[derive(Debug)]
struct Shared {
    session: Mutex<ClientSession<StdRng>>,
    mux: GreMux,
    server: Ipv4Addr,
}

impl Shared {
    fn session(&self) -> MutexGuard<'_, ClientSession<StdRng>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends IP datagrams into a tunnel; cheap to clone, usable from another task.
#[derive(Clone, Debug)]
pub struct TunnelSender {
    shared: Arc<Shared>,
}

impl TunnelSender {
    /// MPPE-encrypts `packet` (an IPv4 datagram), wraps it in GRE and sends it to the server.
    pub async fn send_ip(&self, packet: &[u8]) -> Result<(), ClientError> {
        let mut out = Vec::with_capacity(packet.len() + 32);
        self.shared.session().encapsulate_ip(packet, &mut out)?;
        self.shared.mux.send(self.shared.server, &out).await?;
        Ok(())
    }
}

/// One PPTP tunnel whose link is up.
#[derive(Debug)]
pub struct Tunnel {
    info: LinkInfo,
    sender: TunnelSender,
    received: mpsc::Receiver<IpPacket>,
    status: watch::Receiver<Status>,
    commands: mpsc::UnboundedSender<Command>,
    driver: Option<JoinHandle<()>>,
}

impl Tunnel {
    /// Connects to `options.server`: TCP, Start-Control-Connection, Outgoing-Call, then PPP
    /// over GRE through `mux` until the link is up. On failure the session is first torn down
    /// the way pptp-linux does (so that the server sees a clean end), then the typed error is
    /// returned: [`ClientError::AuthFailed`] with the server's Failure text,
    /// [`ClientError::StartRefused`]/[`ClientError::CallRefused`], [`ClientError::Timeout`],
    /// [`ClientError::ControlClosed`], [`ClientError::LinkFailed`].
    pub async fn connect(mux: &GreMux, options: &ConnectOptions) -> Result<Tunnel, ClientError> {
        let stream = tokio::time::timeout(options.timeout, TcpStream::connect(options.server))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|source| ClientError::Connect {
                server: options.server,
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let registration = mux.register(*options.server.ip())?;
        let now = now();
        let mut session = ClientSession::new(
            options.session_config(),
            registration.call_id(),
            now,
            StdRng::from_os_rng(),
        );
        session.open(now);
        let shared = Arc::new(Shared {
            session: Mutex::new(session),
            mux: mux.clone(),
            server: *options.server.ip(),
        });
        let (status_tx, mut status) = watch::channel(Status::Connecting);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (data_tx, received) = mpsc::channel(RECEIVE_QUEUE);
        let driver = tokio::spawn(drive(Driver {
            shared: Arc::clone(&shared),
            stream,
            registration,
            commands: command_rx,
            status: status_tx,
            data: data_tx,
        }));
        let limit = options.timeout + options.teardown_timeout + Duration::from_secs(2);
        let status_now = match tokio::time::timeout(
            limit,
            status.wait_for(|status| !matches!(status, Status::Connecting)),
        )
        .await
        {
            Ok(Ok(status)) => Some(status.clone()),
            Ok(Err(_)) | Err(_) => None,
        };
        let Some(status_now) = status_now else {
            driver.abort();
            return Err(ClientError::Timeout);
        };
        match status_now {
            Status::Up(info) => Ok(Tunnel {
                info,
                sender: TunnelSender { shared },
                received,
                status,
                commands,
                driver: Some(driver),
            }),
            Status::Closed(closure) => {
                let _ = driver.await;
                Err(ClientError::from_closure(closure))
            }
            Status::Connecting => Err(ClientError::Timeout),
        }
    }

    /// Addresses, MTU and Call IDs of the link.
    pub fn info(&self) -> LinkInfo {
        self.info
    }

    /// Our address on the link.
    pub fn local_ip(&self) -> Ipv4Addr {
        self.info.local
    }

    /// The server's PPP address.
    pub fn peer_ip(&self) -> Ipv4Addr {
        self.info.peer
    }

    /// The DNS servers the server handed out.
    pub fn dns(&self) -> [Option<Ipv4Addr>; 2] {
        self.info.dns
    }

    /// The MTU pppd would give the interface.
    pub fn mtu(&self) -> u16 {
        self.info.mtu
    }

    /// A handle that sends datagrams from another task.
    pub fn sender(&self) -> TunnelSender {
        self.sender.clone()
    }

    /// MPPE-encrypts `packet` (an IPv4 datagram), wraps it in GRE and sends it to the server.
    pub async fn send_ip(&self, packet: &[u8]) -> Result<(), ClientError> {
        self.sender.send_ip(packet).await
    }

    /// The next datagram from the server; `None` once the tunnel is closed and drained.
    pub async fn recv_ip(&mut self) -> Option<IpPacket> {
        self.received.recv().await
    }

    /// A datagram from the server if one is waiting.
    pub fn try_recv_ip(&mut self) -> Option<IpPacket> {
        self.received.try_recv().ok()
    }

    /// Data-channel counters.
    pub fn stats(&self) -> DataStats {
        self.sender.shared.session().stats()
    }

    /// Our MPPE start keys, if MPPE is on (see [`ClientSession::mppe_start_keys`]): with
    /// [`mppe_coherency_count`](Self::mppe_coherency_count) and
    /// [`reserve_gre_sequence`](Self::reserve_gre_sequence), what a benchmark needs to build
    /// this tunnel's data packets itself and to check the server's.
    pub fn mppe_start_keys(&self) -> Option<MppeStartKeys> {
        self.sender.shared.session().mppe_start_keys()
    }

    /// The coherency count of our next MPPE packet, if MPPE is on.
    pub fn mppe_coherency_count(&self) -> Option<u16> {
        self.sender.shared.session().mppe_coherency_count()
    }

    /// Sets aside `count` GRE sequence numbers (below 2^31), starting with the returned one, for
    /// data packets the caller sends itself on this call; the tunnel's own packets continue
    /// after them (see [`ClientSession::reserve_gre_sequence`]).
    pub fn reserve_gre_sequence(&self, count: u32) -> u32 {
        self.sender.shared.session().reserve_gre_sequence(count)
    }

    /// How the tunnel ended, if it has.
    pub fn closure(&self) -> Option<Closure> {
        match &*self.status.borrow() {
            Status::Closed(closure) => Some(closure.clone()),
            _ => None,
        }
    }

    /// Waits until the tunnel ends (the server shut it down, the control connection broke)
    /// and says how. Cancel-safe.
    pub async fn closed(&mut self) -> Closure {
        let waited = self
            .status
            .wait_for(|status| matches!(status, Status::Closed(_)))
            .await
            .map(|status| match &*status {
                Status::Closed(closure) => Some(closure.clone()),
                _ => None,
            });
        match waited {
            Ok(Some(closure)) => closure,
            _ => self.closure().unwrap_or_else(lost_driver_closure),
        }
    }

    /// Hangs up as pppd + pptp-linux do (LCP Terminate-Request, Call-Clear-Request,
    /// Stop-Control-Connection-Request, each answered in turn) and reports what the server did.
    pub async fn hang_up(mut self) -> Closure {
        let _ = self.commands.send(Command::HangUp);
        let closure = self.closed().await;
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
        closure
    }
}

/// The closure for a driver that vanished without reporting (it panicked or was aborted).
pub(crate) fn lost_driver_closure() -> Closure {
    Closure {
        reason: crate::closure::CloseReason::ControlClosed(
            pptp_proto::connection::Reason::TransportClosed,
        ),
        server: Default::default(),
        client: Default::default(),
        link: None,
        control: None,
        teardown_timed_out: true,
    }
}

/// The current time, on tokio's clock.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Everything the driver task owns.
struct Driver {
    shared: Arc<Shared>,
    stream: TcpStream,
    registration: CallRegistration,
    commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<Status>,
    data: mpsc::Sender<IpPacket>,
}

/// What woke the driver.
enum Wake {
    Tcp(std::io::Result<usize>),
    Gre(Option<Vec<u8>>),
    Timer,
    Command(Option<Command>),
}

/// Runs one session until it is over.
async fn drive(driver: Driver) {
    let Driver {
        shared,
        stream,
        mut registration,
        mut commands,
        status,
        data,
    } = driver;
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; 4096];
    let mut tcp_open = true;
    let mut commands_open = true;
    let mut gre_open = true;
    let mut writer_open = true;
    // The Start-Control-Connection-Request queued by `open`.
    let mut finished = flush(&shared, &mut writer, &mut writer_open, &status).await;
    while !finished {
        let deadline = shared.session().poll_timeout();
        let far = now() + Duration::from_secs(3600);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(far).into());
        let wake = tokio::select! {
            read = reader.read(&mut buf), if tcp_open => Wake::Tcp(read),
            gre = registration.recv(), if gre_open => Wake::Gre(gre),
            () = sleep => Wake::Timer,
            command = commands.recv(), if commands_open => Wake::Command(command),
        };
        let now = now();
        match wake {
            Wake::Tcp(Ok(0)) | Wake::Tcp(Err(_)) => {
                tcp_open = false;
                shared.session().handle_control_closed(now);
            }
            Wake::Tcp(Ok(len)) => {
                let bytes = buf.get(..len).unwrap_or_default();
                shared.session().handle_control_bytes(now, bytes);
            }
            Wake::Gre(Some(mut packet)) => {
                let delivered = shared.session().handle_gre(now, &mut packet);
                if let Some(range) = delivered {
                    // A full queue drops the datagram, as a congested interface would.
                    let _ = data.try_send(IpPacket { buf: packet, range });
                }
            }
            Wake::Gre(None) => gre_open = false,
            Wake::Timer => shared.session().handle_timeout(now),
            Wake::Command(Some(Command::HangUp)) => shared.session().hang_up(now),
            Wake::Command(None) => {
                // The tunnel handle is gone: hang up politely in the background.
                commands_open = false;
                shared.session().hang_up(now);
            }
        }
        finished = flush(&shared, &mut writer, &mut writer_open, &status).await;
    }
    if writer_open {
        let _ = writer.shutdown().await;
    }
}

/// Sends what the session queued and publishes its events; true once it is over.
async fn flush(
    shared: &Shared,
    writer: &mut OwnedWriteHalf,
    writer_open: &mut bool,
    status: &watch::Sender<Status>,
) -> bool {
    let mut finished = false;
    for _ in 0..16 {
        let (control, gre, events) = {
            let mut session = shared.session();
            let control: Vec<Vec<u8>> =
                std::iter::from_fn(|| session.poll_control_transmit()).collect();
            let gre: Vec<Vec<u8>> = std::iter::from_fn(|| session.poll_gre_transmit()).collect();
            let events: Vec<SessionEvent> = std::iter::from_fn(|| session.poll_event()).collect();
            (control, gre, events)
        };
        if control.is_empty() && gre.is_empty() && events.is_empty() {
            break;
        }
        for bytes in control {
            if *writer_open && writer.write_all(&bytes).await.is_err() {
                *writer_open = false;
                shared.session().handle_control_closed(now());
            }
        }
        for packet in gre {
            if let Err(error) = shared.mux.send(shared.server, &packet).await {
                tracing::debug!(%error, "GRE send failed");
            }
        }
        for event in events {
            match event {
                SessionEvent::Up(info) => {
                    status.send_replace(Status::Up(info));
                }
                SessionEvent::Closed(closure) => {
                    status.send_replace(Status::Closed(closure));
                    finished = true;
                }
                SessionEvent::CallEstablished { .. } => {}
            }
        }
    }
    finished
}
