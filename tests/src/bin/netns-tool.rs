//! `netns-tool`: the small network programs the end-to-end tests run inside their
//! namespaces (`ip netns exec NS netns-tool ...`). Servers print `READY <addr>` once
//! bound and log one line per client, its address first; clients print one result
//! line and exit 0 only if everything they received was right.
//!
//! ```text
//! netns-tool udp-echo   --listen ADDR:PORT --log FILE
//! netns-tool http-serve --listen ADDR:PORT --size BYTES --seed N --log FILE
//! netns-tool fetch      --url http://ADDR:PORT/blob --expect-size N --seed N [--bind IP] [--timeout SECS]
//! netns-tool upload     --url http://ADDR:PORT/blob --size N --seed N [--bind IP] [--timeout SECS]
//! netns-tool udp-check  --to ADDR:PORT --count N --size S [--bind IP] [--timeout-ms MS] [--burst B]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use pptpd_tests::blob::BlobStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The largest request header `http-serve` reads.
const MAX_REQUEST: usize = 16 * 1024;
/// Bytes in each datagram of `udp-check` before the payload: sequence and checksum.
const UDP_HEADER: usize = 12;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.split_first() {
        Some((cmd, rest)) => Options::parse(rest).and_then(|opts| match cmd.as_str() {
            "udp-echo" => udp_echo(&opts),
            "http-serve" => http_serve(&opts),
            "fetch" => fetch(&opts),
            "upload" => upload(&opts),
            "udp-check" => udp_check(&opts),
            other => Err(anyhow!("unknown command {other:?}")),
        }),
        None => Err(anyhow!(
            "usage: netns-tool udp-echo|http-serve|fetch|upload|udp-check --option value ..."
        )),
    };
    if let Err(e) = result {
        eprintln!("netns-tool: {e:#}");
        std::process::exit(1);
    }
}

/// `--key value` pairs.
struct Options(BTreeMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("expected --option, got {key:?}"))?;
            let value = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(Options(map))
    }

    fn get<T: std::str::FromStr>(&self, key: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let value = self
            .0
            .get(key)
            .ok_or_else(|| anyhow!("--{key} is required"))?;
        value.parse().map_err(|e| anyhow!("--{key} {value:?}: {e}"))
    }

    fn get_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        if self.0.contains_key(key) {
            self.get(key)
        } else {
            Ok(default)
        }
    }
}

/// Appends one line per client to a log file; one write per line, so a reader never
/// sees half a line.
#[derive(Clone)]
struct PeerLog(Arc<Mutex<File>>);

impl PeerLog {
    fn open(path: &str) -> Result<PeerLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening log {path}"))?;
        Ok(PeerLog(Arc::new(Mutex::new(file))))
    }

    fn record(&self, line: &str) {
        let mut file = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

fn ready(addr: SocketAddr) -> Result<()> {
    let mut out = std::io::stdout();
    writeln!(out, "READY {addr}")?;
    out.flush()?;
    Ok(())
}

fn udp_echo(opts: &Options) -> Result<()> {
    let listen: SocketAddr = opts.get("listen")?;
    let log = PeerLog::open(&opts.get::<String>("log")?)?;
    let socket = UdpSocket::bind(listen).with_context(|| format!("binding {listen}"))?;
    ready(socket.local_addr()?)?;
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = socket.recv_from(&mut buf)?;
        log.record(&format!("{peer} udp {n}"));
        socket.send_to(&buf[..n], peer)?;
    }
}

fn http_serve(opts: &Options) -> Result<()> {
    let listen: SocketAddr = opts.get("listen")?;
    let size: u64 = opts.get("size")?;
    let seed: u64 = opts.get("seed")?;
    let log = PeerLog::open(&opts.get::<String>("log")?)?;
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    ready(listener.local_addr()?)?;
    loop {
        let (stream, peer) = listener.accept()?;
        let log = log.clone();
        std::thread::spawn(move || {
            let outcome = serve_one(stream, size, seed);
            let what = match &outcome {
                Ok(line) => line.clone(),
                Err(e) => format!("error {e:#}"),
            };
            log.record(&format!("{peer} {what}"));
        });
    }
}

/// Answers one HTTP/1.0 request: GET /blob sends the blob; PUT or POST /blob takes the
/// whole blob back, and POST /hex/N the first N bytes of it as lowercase hex (busybox wget
/// posts files as strings, so binary data would stop at the first zero byte), and verifies
/// every byte (200, else 400); 404 elsewhere.
fn serve_one(mut stream: TcpStream, size: u64, seed: u64) -> Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, first) = read_head_and_rest(&mut stream)?;
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if matches!(method, "PUT" | "POST") {
        let encoding = match path.strip_prefix("/hex/").map(str::parse::<u64>) {
            _ if path == "/blob" => Some((Encoding::Binary, size)),
            Some(Ok(n)) if n <= size => Some((Encoding::Hex, n)),
            _ => None,
        };
        if let Some((encoding, bytes)) = encoding {
            return take_upload(stream, &head, first, seed, encoding, bytes);
        }
    }
    if method != "GET" || path != "/blob" {
        stream.write_all(
            b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(format!("{method} {path} 404"));
    }
    let header = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(header.as_bytes())?;
    let mut blob = BlobStream::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        let chunk = &mut buf[..n];
        blob.fill(chunk);
        stream.write_all(chunk)?;
        left -= n as u64;
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(format!("GET /blob 200 {size}"))
}

/// How an upload carries the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// The bytes themselves.
    Binary,
    /// Two lowercase hex digits per byte.
    Hex,
}

/// Reads an upload body that must be exactly the first `bytes` bytes of the blob of `seed`
/// in `encoding` (the first octets of it already read, in `first`); answers 200 if it is,
/// 400 if not, and returns the log line.
fn take_upload(
    mut stream: TcpStream,
    head: &str,
    first: Vec<u8>,
    seed: u64,
    encoding: Encoding,
    bytes: u64,
) -> Result<String> {
    let request = head.lines().next().unwrap_or_default().to_owned();
    let length = content_length(head)?.ok_or_else(|| anyhow!("{request}: no Content-Length"))?;
    let want = match encoding {
        Encoding::Binary => bytes,
        Encoding::Hex => 2 * bytes,
    };
    let mut verifier = Verifier::new(seed, bytes);
    let mut odd_digit = None;
    let mut check = |octets: &[u8]| match encoding {
        Encoding::Binary => verifier.check(octets),
        Encoding::Hex => {
            let mut decoded = Vec::with_capacity(octets.len() / 2 + 1);
            for &digit in octets {
                let value = (digit as char)
                    .to_digit(16)
                    .ok_or_else(|| anyhow!("{digit:#04x} is not a hex digit"))?;
                match odd_digit.take() {
                    None => odd_digit = Some(value),
                    Some(high) => decoded.push(u8::try_from(high << 4 | value)?),
                }
            }
            verifier.check(&decoded)
        }
    };
    let mut outcome = if length == want {
        check(&first)
    } else {
        Err(anyhow!("Content-Length {length}, expected {want}"))
    };
    let mut received = first.len() as u64;
    let mut buf = vec![0u8; 256 * 1024];
    while outcome.is_ok() && received < length {
        let n = stream.read(&mut buf)?;
        ensure!(n > 0, "connection closed after {received} octets");
        received += n as u64;
        outcome = check(&buf[..n]);
    }
    let (status, line) = match &outcome {
        Ok(()) => ("200 OK", format!("{request} 200 {bytes}")),
        Err(e) => ("400 Bad Request", format!("{request} 400 {e:#}")),
    };
    stream.write_all(
        format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(line)
}

/// The Content-Length of an HTTP head, if it has one.
fn content_length(head: &str) -> Result<Option<u64>> {
    Ok(head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<u64>())
        .transpose()?)
}

fn read_head_and_rest(stream: &mut TcpStream) -> Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        ensure!(
            buf.len() <= MAX_REQUEST,
            "header longer than {MAX_REQUEST} bytes"
        );
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "connection closed inside the header");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Splits `http://ADDR:PORT/path` into the socket address and the path.
fn parse_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url:?}: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let addr = authority
        .parse()
        .or_else(|_| format!("{authority}:80").parse())
        .map_err(|_| anyhow!("{url:?}: the host must be an IP address"))?;
    Ok((addr, path.to_owned()))
}

/// A TCP connection to `to`, from `bind` if given.
fn connect(to: SocketAddr, bind: Option<IpAddr>, timeout: Duration) -> Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(ip) = bind {
        socket
            .bind(&SockAddr::from(SocketAddr::new(ip, 0)))
            .with_context(|| format!("binding {ip}"))?;
    }
    socket
        .connect_timeout(&SockAddr::from(to), timeout)
        .with_context(|| format!("connecting to {to}"))?;
    Ok(socket.into())
}

/// What `fetch` and `upload` share: the server, the blob's seed, the source address and
/// the timeout, from the options.
struct Transfer {
    addr: SocketAddr,
    path: String,
    seed: u64,
    bind: Option<IpAddr>,
    timeout: Duration,
    started: Instant,
}

impl Transfer {
    fn from_options(opts: &Options) -> Result<Transfer> {
        let (addr, path) = parse_url(&opts.get::<String>("url")?)?;
        Ok(Transfer {
            addr,
            path,
            seed: opts.get("seed")?,
            bind: opts.0.get("bind").map(|b| b.parse()).transpose()?,
            timeout: Duration::from_secs(opts.get_or("timeout", 30)?),
            started: Instant::now(),
        })
    }

    /// Connects, with the timeout on every read and write.
    fn connect(&self) -> Result<TcpStream> {
        let stream = connect(self.addr, self.bind, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        Ok(stream)
    }

    /// Prints the `TAG bytes= secs= mbit_s=` result line.
    fn report(&self, tag: &str, bytes: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-6);
        println!(
            "{tag} bytes={bytes} secs={secs:.3} mbit_s={:.2}",
            bytes as f64 * 8.0 / secs / 1e6
        );
    }
}

/// Fails unless the response head says 200.
fn ensure_status_ok(head: &str) -> Result<()> {
    let status = head.lines().next().unwrap_or_default();
    ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "server answered {status:?}"
    );
    Ok(())
}

fn fetch(opts: &Options) -> Result<()> {
    let transfer = Transfer::from_options(opts)?;
    let expect: u64 = opts.get("expect-size")?;
    let (addr, path) = (transfer.addr, &transfer.path);
    let mut stream = transfer.connect()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let (head, first) = read_head_and_rest(&mut stream)?;
    ensure_status_ok(&head)?;
    let length = content_length(&head)?;
    ensure!(
        length.is_none_or(|l| l == expect),
        "Content-Length {length:?}, expected {expect}"
    );

    let mut verifier = Verifier::new(transfer.seed, expect);
    verifier.check(&first)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        verifier.check(&buf[..n])?;
    }
    let total = verifier.total;
    ensure!(total == expect, "got {total} bytes, expected {expect}");
    transfer.report("FETCH", total);
    Ok(())
}

/// Sends the blob of `--seed` and `--size` bytes to `--url` with PUT, all within
/// `--timeout` seconds; the server verifies it and must answer 200.
fn upload(opts: &Options) -> Result<()> {
    let transfer = Transfer::from_options(opts)?;
    let size: u64 = opts.get("size")?;
    let (addr, path, timeout) = (transfer.addr, &transfer.path, transfer.timeout);
    let mut stream = transfer.connect()?;
    stream.write_all(
        format!("PUT {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
    )?;
    let mut blob = BlobStream::new(transfer.seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        // A whole-transfer deadline: a path that only lets retransmissions through crawls
        // on without ever stalling for one timeout.
        ensure!(
            transfer.started.elapsed() < timeout,
            "{} of {size} bytes sent in {timeout:?}",
            size - left
        );
        let n = usize::try_from(left.min(buf.len() as u64))?;
        blob.fill(&mut buf[..n]);
        stream.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let (head, _) = read_head_and_rest(&mut stream)?;
    ensure_status_ok(&head)?;
    transfer.report("UPLOAD", size);
    Ok(())
}

/// Compares received bytes with the blob, in whatever pieces they arrive.
struct Verifier {
    blob: BlobStream,
    want: Vec<u8>,
    total: u64,
    expect: u64,
}

impl Verifier {
    fn new(seed: u64, expect: u64) -> Verifier {
        Verifier {
            blob: BlobStream::new(seed),
            want: vec![0u8; 256 * 1024],
            total: 0,
            expect,
        }
    }

    fn check(&mut self, got: &[u8]) -> Result<()> {
        ensure!(
            self.total + got.len() as u64 <= self.expect,
            "more than the expected {} bytes",
            self.expect
        );
        for piece in got.chunks(self.want.len()) {
            let want = &mut self.want[..piece.len()];
            self.blob.fill(want);
            if piece != want {
                let i = piece.iter().zip(want.iter()).position(|(a, b)| a != b);
                bail!(
                    "byte {} differs from the blob",
                    self.total + i.unwrap_or(0) as u64
                );
            }
            self.total += piece.len() as u64;
        }
        Ok(())
    }
}

/// FNV-1a over `data`: the datagram checksum.
fn fnv64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Datagram `seq` of `size` bytes: sequence (4), checksum of the payload (8), payload.
fn datagram(seq: u32, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size.max(UDP_HEADER)];
    let (head, payload) = d.split_at_mut(UDP_HEADER);
    BlobStream::new(u64::from(seq)).fill(payload);
    head[..4].copy_from_slice(&seq.to_be_bytes());
    head[4..].copy_from_slice(&fnv64(payload).to_be_bytes());
    d
}

fn udp_check(opts: &Options) -> Result<()> {
    let to: SocketAddr = opts.get("to")?;
    let count: u32 = opts.get("count")?;
    let size: usize = opts.get("size")?;
    let bind: IpAddr = opts.get_or("bind", IpAddr::from([0, 0, 0, 0]))?;
    let timeout = Duration::from_millis(opts.get_or("timeout-ms", 1000)?);
    let burst: u32 = opts.get_or("burst", 1)?;
    ensure!(
        (UDP_HEADER..=65507).contains(&size),
        "--size must be {UDP_HEADER}..=65507"
    );
    // A burst's echoes wait in the socket's receive buffer (208 KiB by default).
    ensure!((1..=64).contains(&burst), "--burst must be 1..=64");

    let socket = UdpSocket::bind(SocketAddr::new(bind, 0))?;
    socket.connect(to)?;
    let (mut received, mut corrupt, mut lost) = (0u32, 0u32, 0u32);
    let mut rtt_total = Duration::ZERO;
    let mut buf = vec![0u8; 65536];
    let mut next = 0u32;
    while next < count {
        // Send a burst back to back, then take its echoes in any order.
        let group = next..count.min(next.saturating_add(burst));
        next = group.end;
        let start = Instant::now();
        for seq in group.clone() {
            socket.send(&datagram(seq, size))?;
        }
        let mut pending: BTreeSet<u32> = group.collect();
        while !pending.is_empty() {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // ICMP unreachable from an earlier datagram: keep waiting for these.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            };
            let echo = &buf[..n];
            let seq_of_echo = echo.get(..4).map(|b| [b[0], b[1], b[2], b[3]]);
            let Some(seq) = seq_of_echo.map(u32::from_be_bytes) else {
                continue;
            };
            if !pending.remove(&seq) {
                continue; // a late echo of an earlier burst
            }
            let checksum_ok = echo.len() >= UDP_HEADER
                && echo[4..UDP_HEADER] == fnv64(&echo[UDP_HEADER..]).to_be_bytes();
            if checksum_ok && echo == datagram(seq, size).as_slice() {
                received += 1;
                rtt_total += start.elapsed();
            } else {
                corrupt += 1;
            }
        }
        lost += u32::try_from(pending.len()).unwrap_or(u32::MAX);
    }
    let rtt_us_avg = if received > 0 {
        rtt_total.as_micros() / u128::from(received)
    } else {
        0
    };
    println!(
        "UDP-CHECK sent={count} received={received} corrupt={corrupt} lost={lost} rtt_us_avg={rtt_us_avg}"
    );
    ensure!(
        received == count,
        "{} of {count} datagrams did not come back intact",
        count - received
    );
    Ok(())
}
