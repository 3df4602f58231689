//! The benchmark's GRE socket filters in the kernel: a raw socket with the control filter and
//! one with the data filter, in a private network namespace, receive GRE packets sent over
//! loopback, and each keeps only its share. Needs root (a namespace, raw sockets); without it
//! the test says so and passes vacuously.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration;

use pptp_proto::CallId;
use pptp_proto::gre::GreHeader;
use pptpd_benches::gre_frame::{GreFilter, parse_data_packet};
use pptpd_benches::mmsg::{RecvBatch, send_batch};
use pptpd_benches::tunnel_flows::gre_socket;

fn gre(seq: Option<u32>, ack: Option<u32>, ppp: &[u8]) -> Vec<u8> {
    let header = GreHeader {
        payload_len: ppp.len() as u16,
        call_id: CallId(0x4242),
        seq,
        ack,
    };
    let mut out = vec![0; header.len()];
    header.emit(&mut out).unwrap();
    out.extend_from_slice(ppp);
    out
}

fn drain(batch: &mut RecvBatch, socket: &socket2::Socket) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for _ in 0..20 {
        let n = batch.receive(socket.as_fd()).unwrap();
        for i in 0..n {
            got.push(batch.datagram(i).to_vec());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    got
}

#[test]
fn control_and_data_filters_split_the_traffic_in_the_kernel() {
    let joined = std::thread::spawn(|| {
        if let Err(error) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("skipped: cannot create a network namespace ({error}); run as root");
            return;
        }
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip runs");
        assert!(up.success());
        let control = gre_socket(GreFilter::ControlOnly).unwrap();
        let data = gre_socket(GreFilter::MppeDataOnly).unwrap();
        let lcp = gre(
            Some(1),
            None,
            &[0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x04],
        );
        let mppe = gre(
            Some(2),
            Some(7),
            &[0xff, 0x03, 0x00, 0xfd, 0x90, 0x05, 1, 2, 3],
        );
        let ack = gre(None, Some(8), &[]);
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let packets: Vec<&[u8]> = vec![&lcp, &mppe, &ack];
        assert_eq!(send_batch(data.as_fd(), &packets, |_| to).unwrap(), 3);
        let mut batch = RecvBatch::new(2048);
        let kept_control = drain(&mut batch, &control);
        let kept_data = drain(&mut batch, &data);
        assert_eq!(kept_control.len(), 1, "only the LCP frame");
        assert!(kept_control[0].ends_with(&lcp));
        assert_eq!(kept_data.len(), 1, "only the MPPE frame");
        let parsed = parse_data_packet(&kept_data[0]).expect("a data packet");
        assert_eq!(
            (parsed.call_id, parsed.seq, parsed.coherency_count),
            (CallId(0x4242), 2, 5)
        );
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}
