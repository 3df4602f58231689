//! The whole IO shell over real sockets: `Tunnel::connect` over TCP and a raw GRE socket
//! against the in-test server (server roles of the core crates) on 127.0.0.1, in a private
//! network namespace of the test's own thread (so nothing outside it sees the GRE). Both ends
//! share one `GreMux`: each registers its own Call ID, which is exactly what demultiplexing
//! by Call ID is for. Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_RAW for the
//! socket); without it the tests say so and pass vacuously.

mod common;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::{CLIENT_PPP, SERVER_PPP, Sent, TestServer, icmp_echo};
use pptp_client::{ClientError, ConnectOptions, GreMux, Tunnel};
use pptp_proto::control::{CallDisconnectResult, StopControlReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Runs `test` on a thread of its own inside a new network namespace with `lo` up.
fn in_private_netns<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let joined = std::thread::spawn(move || {
        if let Err(error) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("skipped: cannot create a network namespace ({error}); run as root");
            return;
        }
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip runs");
        assert!(up.success());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), test())
                .await
                .expect("the test finishes within a minute");
        });
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// What the test asks of a running server.
enum Ask {
    SendIp(Vec<u8>),
    ShutDown,
}

/// A running in-test server for one TCP connection.
struct ServerHandle {
    ask: mpsc::UnboundedSender<Ask>,
    received_ip: mpsc::UnboundedReceiver<Vec<u8>>,
    task: JoinHandle<TestServer>,
}

/// Accepts connections on `listener` and runs a `TestServer` for each, all on `mux`.
fn serve(
    listener: TcpListener,
    mux: GreMux,
    password: &'static str,
) -> mpsc::UnboundedReceiver<ServerHandle> {
    let (handles, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (ask, asks) = mpsc::unbounded_channel();
            let (ips, received_ip) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_server(stream, mux.clone(), password, asks, ips));
            let _ = handles.send(ServerHandle {
                ask,
                received_ip,
                task,
            });
        }
    });
    receiver
}

/// Drives one `TestServer` with real IO until the client goes away.
async fn run_server(
    stream: TcpStream,
    mux: GreMux,
    password: &'static str,
    mut asks: mpsc::UnboundedReceiver<Ask>,
    ips: mpsc::UnboundedSender<Vec<u8>>,
) -> TestServer {
    let mut registration = mux.register(LOCALHOST).unwrap();
    let mut server = TestServer::new(Instant::now(), "root", password);
    server.call_id = registration.call_id();
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; 4096];
    let mut reported = 0;
    loop {
        let deadline = server
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(len) => server.handle_control_bytes(Instant::now(), &buf[..len]),
            },
            packet = registration.recv() => {
                if let Some(packet) = packet {
                    server.handle_gre(Instant::now(), &packet);
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => server.handle_timeout(Instant::now()),
            ask = asks.recv() => match ask {
                Some(Ask::SendIp(packet)) => server.send_ip(&packet),
                Some(Ask::ShutDown) => server.shut_down(Instant::now()),
                None => {}
            },
        }
        while let Some(bytes) = server.control_out.pop_front() {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        while let Some(packet) = server.gre_out.pop_front() {
            mux.send(LOCALHOST, &packet).await.unwrap();
        }
        for sent in &server.log[reported..] {
            if let Sent::Ip(packet) = sent {
                let _ = ips.send(packet.clone());
            }
        }
        reported = server.log.len();
    }
    server
}

/// A listener on 127.0.0.1 and the options to reach it.
async fn listener(password: &str) -> (TcpListener, ConnectOptions) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut options = ConnectOptions::new(SocketAddrV4::new(LOCALHOST, port), "root", password);
    options.timeout = Duration::from_secs(5);
    (listener, options)
}

#[test]
fn tunnel_comes_up_carries_data_both_ways_and_hangs_up_cleanly() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        let (listener, options) = listener("123456").await;
        let mut servers = serve(listener, mux.clone(), "123456");
        let mut tunnel = Tunnel::connect(&mux, &options).await.unwrap();
        assert_eq!(
            (tunnel.local_ip(), tunnel.peer_ip(), tunnel.mtu()),
            (CLIENT_PPP, SERVER_PPP, 1496)
        );
        assert_eq!(mux.sessions(), 2, "the client's call and the server's");
        let mut server = servers.recv().await.unwrap();
        for sequence in 0..10 {
            let request = icmp_echo(CLIENT_PPP, SERVER_PPP, sequence);
            tunnel.send_ip(&request).await.unwrap();
            assert_eq!(server.received_ip.recv().await.unwrap(), request);
            let reply = icmp_echo(SERVER_PPP, CLIENT_PPP, sequence);
            server.ask.send(Ask::SendIp(reply.clone())).unwrap();
            assert_eq!(&*tunnel.recv_ip().await.unwrap(), &reply[..]);
        }
        assert_eq!(tunnel.stats().ip_received, 10);
        let closure = tunnel.hang_up().await;
        assert!(closure.is_clean_hang_up(), "{closure}");
        let server = server.task.await.unwrap();
        assert!(
            server
                .link_events
                .contains(&ppp_core::Event::Down(ppp_core::Reason::PeerTerminated))
        );
        assert_eq!(mux.sessions(), 0, "both Call IDs freed");
        let stats = mux.stats();
        assert_eq!(stats.malformed + stats.wrong_source + stats.overflow, 0);
    });
}

#[test]
fn wrong_password_is_auth_failed_with_the_e691_text() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        let (listener, options) = listener("wrong").await;
        let _servers = serve(listener, mux.clone(), "123456");
        match Tunnel::connect(&mux, &options).await {
            Err(ClientError::AuthFailed { message, closure }) => {
                assert!(message.starts_with("E=691 R=1 C="), "{message}");
                assert!(message.ends_with(" V=0 M=Access denied"), "{message}");
                assert!(closure.client.call_clear_request && closure.server.stop_reply);
            }
            Err(other) => panic!("{other}"),
            Ok(tunnel) => panic!("came up: {:?}", tunnel.info()),
        }
    });
}

#[test]
fn server_shutdown_is_reported_by_closed() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        let (listener, options) = listener("123456").await;
        let mut servers = serve(listener, mux.clone(), "123456");
        let mut tunnel = Tunnel::connect(&mux, &options).await.unwrap();
        let server = servers.recv().await.unwrap();
        server.ask.send(Ask::ShutDown).unwrap();
        let closure = tunnel.closed().await;
        assert!(closure.is_clean_server_shutdown(), "{closure}");
        assert_eq!(
            closure.server.call_disconnect,
            Some(CallDisconnectResult::AdminShutdown)
        );
        assert_eq!(
            closure.server.stop_request,
            Some(StopControlReason::LocalShutdown)
        );
        assert!(tunnel.recv_ip().await.is_none(), "no more data");
        assert!(matches!(
            tunnel.send_ip(&icmp_echo(CLIENT_PPP, SERVER_PPP, 1)).await,
            Err(ClientError::NotUp)
        ));
        // Hanging up a closed tunnel just reports the same end.
        assert_eq!(tunnel.hang_up().await, closure);
    });
}

#[test]
fn many_tunnels_share_one_gre_socket() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        let (listener, options) = listener("123456").await;
        let mut servers = serve(listener, mux.clone(), "123456");
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let (mux, options) = (mux.clone(), options.clone());
            connecting.spawn(async move { Tunnel::connect(&mux, &options).await });
        }
        let started = Instant::now();
        let mut tunnels = Vec::new();
        while let Some(joined) = connecting.join_next().await {
            tunnels.push(joined.unwrap().unwrap());
        }
        // No handshake waited for a retransmission (3 s), even where the server's first LCP
        // packet overtook its Outgoing-Call-Reply.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let mut call_ids: Vec<u16> = tunnels.iter().map(|t| t.info().call_id.0).collect();
        call_ids.sort_unstable();
        call_ids.dedup();
        assert_eq!(call_ids.len(), 40);
        let stats = mux.stats();
        assert_eq!(stats.delivered, stats.received, "{stats:?}");
        assert_eq!(mux.sessions(), 80);
        // Each server hears from its own client only.
        let mut handles = Vec::new();
        while let Ok(handle) = servers.try_recv() {
            handles.push(handle);
        }
        assert_eq!(handles.len(), 40);
        for (index, tunnel) in tunnels.iter().enumerate() {
            tunnel
                .send_ip(&icmp_echo(tunnel.local_ip(), SERVER_PPP, index as u16))
                .await
                .unwrap();
        }
        for handle in &mut handles {
            let packet = handle.received_ip.recv().await.unwrap();
            assert_eq!(packet[12..16], CLIENT_PPP.octets());
        }
        for tunnel in tunnels {
            let closure = tunnel.hang_up().await;
            assert!(closure.is_clean_hang_up(), "{closure}");
        }
        for handle in handles {
            handle.task.await.unwrap();
        }
        assert_eq!(mux.sessions(), 0);
        assert_eq!(mux.stats().wrong_source, 0);
    });
}

#[test]
fn the_mux_keeps_gre_from_other_sources_and_calls_out() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        // A session whose server is 127.0.0.2 must not take packets from 127.0.0.1.
        let mut elsewhere = mux.register(Ipv4Addr::new(127, 0, 0, 2)).unwrap();
        let mut here = mux.register(LOCALHOST).unwrap();
        let packet = |call_id: u16| {
            let mut gre = vec![0x30, 0x01, 0x88, 0x0b, 0, 4, 0, 0, 0, 0, 0, 1];
            gre[6..8].copy_from_slice(&call_id.to_be_bytes());
            gre.extend_from_slice(&[0xff, 0x03, 0xc0, 0x21]);
            gre
        };
        mux.send(LOCALHOST, &packet(elsewhere.call_id().0))
            .await
            .unwrap();
        let taken = [elsewhere.call_id().0, here.call_id().0];
        let unknown = (1..=u16::MAX).find(|id| !taken.contains(id)).unwrap();
        mux.send(LOCALHOST, &packet(unknown)).await.unwrap();
        mux.send(LOCALHOST, &[0x45, 0, 0]).await.unwrap();
        mux.send(LOCALHOST, &packet(here.call_id().0))
            .await
            .unwrap();
        let delivered = here.recv().await.unwrap();
        assert_eq!(delivered, packet(here.call_id().0), "IPv4 header removed");
        let stats = mux.stats();
        assert_eq!(stats.wrong_source, 1);
        assert!(stats.unknown_call >= 1);
        assert_eq!(stats.malformed, 1);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), elsewhere.recv())
                .await
                .is_err()
        );
        drop(here);
        assert_eq!(mux.sessions(), 1);
    });
}

#[test]
fn an_attached_filter_keeps_rejected_datagrams_from_the_mux() {
    in_private_netns(|| async {
        let mux = GreMux::open().unwrap();
        let mut here = mux.register(LOCALHOST).unwrap();
        let packet = |payload: &[u8]| {
            let mut gre = vec![0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 1];
            gre[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            gre[6..8].copy_from_slice(&here.call_id().0.to_be_bytes());
            gre.extend_from_slice(payload);
            gre
        };
        // Keep IPv4 datagrams of at most 40 bytes (BPF_LD|BPF_W|BPF_LEN, JGT, RET).
        mux.attach_filter(&[
            socket2::SockFilter::new(0x80, 0, 0, 0),
            socket2::SockFilter::new(0x25, 1, 0, 40),
            socket2::SockFilter::new(0x06, 0, 0, u32::MAX),
            socket2::SockFilter::new(0x06, 0, 0, 0),
        ])
        .unwrap();
        let long = packet(&[
            0xff, 0x03, 0x00, 0xfd, 0x90, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ]);
        let short = packet(&[0xff, 0x03, 0xc0, 0x21]);
        mux.send(LOCALHOST, &long).await.unwrap();
        mux.send(LOCALHOST, &short).await.unwrap();
        assert_eq!(here.recv().await.unwrap(), short);
        let stats = mux.stats();
        assert_eq!(stats.received, 1, "the long datagram never reached the mux");
        assert_eq!(stats.sent, 2);
    });
}
