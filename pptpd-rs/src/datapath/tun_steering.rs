//! Steering of the packets that leave through the TUN device to the queue of the worker that
//! owns their destination's session: a small eBPF program attached with `TUNSETSTEERINGEBPF`
//! (Linux `drivers/net/tun.c`, `tun_ebpf_select_queue`: the program's return value modulo the
//! number of queues is the queue) that reads the IPv4 destination and looks it up in a hash
//! map the control plane fills as clients get their addresses (`bpf(2)`, `BPF_MAP_TYPE_HASH`).
//!
//! Without it the kernel picks the queue by a flow hash computed for every packet (even with a
//! single queue: the program is cheaper, so one worker loads it too), and a packet read by the
//! wrong worker is handed off (see `handoff`). The hand-off stays, for the moments
//! a map entry lags behind a route; an address the map does not know goes to queue 0.
//!
//! One of the three modules of the daemon that need `unsafe` (with `gre_socket` and
//! `raw_syscall`): bpf(2) and the
//! ioctl take raw pointers to attribute structures.
#![allow(unsafe_code)]

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `struct bpf_insn`: one eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u8,
    /// Destination register (low 4 bits) and source register (high 4 bits).
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl BpfInsn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }
}

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const MOV64_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ADD64_IMM: u8 = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
const LD_ABS_W: u8 = 0x20; // BPF_LD | BPF_ABS | BPF_W: r0 = ntohl(packet[imm..imm + 4])
const LD_IMM64: u8 = 0x18; // BPF_LD | BPF_DW | BPF_IMM, two instructions
const STX_MEM_W: u8 = 0x63; // BPF_STX | BPF_MEM | BPF_W
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const JEQ_IMM: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
/// `src_reg` of a `LD_IMM64` whose immediate is a map's file descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// `BPF_FUNC_map_lookup_elem`.
const FUNC_MAP_LOOKUP_ELEM: i32 = 1;
/// Offset of the destination address in the IPv4 header (the packet starts there on a TUN
/// device in layer-3 mode).
const IPV4_DESTINATION_AT: i32 = 16;

/// The steering program for the map `map_fd`: the queue stored for the packet's IPv4
/// destination, 0 when there is none (or the packet is too short to have one).
pub fn steering_program(map_fd: RawFd) -> Vec<BpfInsn> {
    vec![
        // r6 = the packet (LD_ABS reads through r6).
        BpfInsn::new(MOV64_REG, 6, 1, 0, 0),
        // r0 = destination address, in host order; a short packet ends the program with 0.
        BpfInsn::new(LD_ABS_W, 0, 0, 0, IPV4_DESTINATION_AT),
        // The key on the stack: *(u32 *)(r10 - 4) = r0.
        BpfInsn::new(STX_MEM_W, 10, 0, -4, 0),
        // r1 = the map.
        BpfInsn::new(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map_fd),
        BpfInsn::new(0, 0, 0, 0, 0),
        // r2 = &key.
        BpfInsn::new(MOV64_REG, 2, 10, 0, 0),
        BpfInsn::new(ADD64_IMM, 2, 0, 0, -4),
        // r0 = map_lookup_elem(r1, r2): a pointer to the queue, or NULL.
        BpfInsn::new(CALL, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM),
        BpfInsn::new(JEQ_IMM, 0, 0, 2, 0),
        BpfInsn::new(LDX_MEM_W, 0, 0, 0, 0),
        BpfInsn::new(EXIT, 0, 0, 0, 0),
        // Not in the map: queue 0.
        BpfInsn::new(MOV64_IMM, 0, 0, 0, 0),
        BpfInsn::new(EXIT, 0, 0, 0, 0),
    ]
}

// bpf(2) commands and types.
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// `BPF_ANY`: create or replace.
const BPF_ANY: u64 = 0;
/// `BPF_F_NO_PREALLOC`: map entries are allocated as they are added, not all at creation.
const BPF_F_NO_PREALLOC: u32 = 1;

/// The `BPF_MAP_CREATE` part of `union bpf_attr`.
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// The `BPF_MAP_*_ELEM` part of `union bpf_attr`.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// `bpf(cmd, attr, sizeof attr)`; the new descriptor or 0.
fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) prefix of `union bpf_attr` for `cmd`, with
    // its exact size; the pointers inside it are valid for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *const T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A descriptor returned by `bpf(2)`, owned.
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("bpf(2) returned no descriptor"))?;
    // SAFETY: bpf(2) just returned this new descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The loaded steering program and its address → queue map.
#[derive(Debug)]
pub struct TunSteering {
    map: OwnedFd,
    program: OwnedFd,
}

impl TunSteering {
    /// Creates the map (room for `clients` addresses) and loads the program (needs
    /// CAP_BPF or CAP_SYS_ADMIN).
    pub fn load(clients: u32) -> io::Result<Self> {
        let map = owned(bpf(
            BPF_MAP_CREATE,
            &MapCreateAttr {
                map_type: BPF_MAP_TYPE_HASH,
                key_size: 4,
                value_size: 4,
                max_entries: clients.max(1),
                map_flags: BPF_F_NO_PREALLOC,
            },
        )?)?;
        let insns = steering_program(map.as_raw_fd());
        // The helper it calls is not GPL-only: the project's own licence.
        let license = c"MIT OR Apache-2.0";
        let program = owned(bpf(
            BPF_PROG_LOAD,
            &ProgLoadAttr {
                prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
                insn_cnt: insns.len() as u32,
                insns: insns.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level: 0,
                log_size: 0,
                log_buf: 0,
                kern_version: 0,
                prog_flags: 0,
            },
        )?)?;
        Ok(Self { map, program })
    }

    /// Attaches the program to the TUN device that `queue` (any of its queues) belongs to.
    pub fn attach(&self, queue: BorrowedFd<'_>) -> io::Result<()> {
        let program: libc::c_int = self.program.as_raw_fd();
        // SAFETY: a TUN descriptor and a pointer to an int, as TUNSETSTEERINGEBPF takes.
        let rc = unsafe {
            libc::ioctl(
                queue.as_raw_fd(),
                libc::TUNSETSTEERINGEBPF,
                &program as *const libc::c_int,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Packets for `client` leave on queue `queue`.
    pub fn set(&self, client: Ipv4Addr, queue: u32) -> io::Result<()> {
        let key = u32::from(client).to_ne_bytes();
        let value = queue.to_ne_bytes();
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &MapElemAttr {
                map_fd: self.map.as_raw_fd() as u32,
                key: key.as_ptr() as u64,
                value: value.as_ptr() as u64,
                flags: BPF_ANY,
            },
        )
        .map(drop)
    }

    /// Forgets `client` (its packets go to queue 0); an address not in the map is no error.
    pub fn remove(&self, client: Ipv4Addr) -> io::Result<()> {
        let key = u32::from(client).to_ne_bytes();
        match bpf(
            BPF_MAP_DELETE_ELEM,
            &MapElemAttr {
                map_fd: self.map.as_raw_fd() as u32,
                key: key.as_ptr() as u64,
                value: 0,
                flags: 0,
            },
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    use super::*;
    use crate::datapath::frame_socket::test_devices::{in_private_namespace, run};
    use crate::datapath::tun_device::{TunQueue, create};

    /// The last octet of the destination of every packet queue `queue` has waiting.
    fn destinations(queue: &TunQueue) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let mut seen = Vec::new();
        while let Ok(Some(n)) = queue.try_recv(&mut buf) {
            if n >= 20 && buf[0] >> 4 == 4 {
                seen.push(buf[19]);
            }
        }
        seen.sort_unstable();
        seen
    }

    /// Sends one datagram to each of 10.9.0.2 to 10.9.0.9 (routed into the TUN device).
    fn send_to_every_client() {
        let socket = UdpSocket::bind("10.9.0.1:0").unwrap();
        for host in 2..=9u8 {
            socket
                .send_to(b"steer me", (Ipv4Addr::new(10, 9, 0, host), 9))
                .unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    /// The queue a packet leaves on is the one the map holds for its destination: clients
    /// .2-.5 on queue 1 and .6-.9 on queue 0, then .2 moved to queue 0 and .6 forgotten (its
    /// packets go to queue 0). The kernel's own choice (a flow hash) would scatter them.
    #[test]
    fn packets_leave_on_the_queue_the_map_holds_for_their_destination() {
        in_private_namespace(|| {
            let queues = create("steer0", 1400, 2, false).unwrap();
            run("ip addr add 10.9.0.1/24 dev steer0");
            run("ip link set lo up");
            let steering = TunSteering::load(64).unwrap();
            steering.attach(queues[1].as_fd()).unwrap();
            for host in 2..=5u8 {
                steering.set(Ipv4Addr::new(10, 9, 0, host), 1).unwrap();
            }
            for host in 6..=9u8 {
                steering.set(Ipv4Addr::new(10, 9, 0, host), 0).unwrap();
            }
            send_to_every_client();
            assert_eq!(destinations(&queues[1]), vec![2, 3, 4, 5]);
            assert_eq!(destinations(&queues[0]), vec![6, 7, 8, 9]);

            steering.set(Ipv4Addr::new(10, 9, 0, 2), 0).unwrap();
            steering.remove(Ipv4Addr::new(10, 9, 0, 6)).unwrap();
            steering.remove(Ipv4Addr::new(10, 9, 0, 6)).unwrap();
            send_to_every_client();
            assert_eq!(destinations(&queues[1]), vec![3, 4, 5]);
            assert_eq!(destinations(&queues[0]), vec![2, 6, 7, 8, 9]);
        });
    }

    #[test]
    fn the_program_looks_up_the_destination_and_falls_back_to_queue_0() {
        let program = steering_program(42);
        // The map's descriptor goes into the LD_IMM64 pair, marked as a map.
        assert_eq!(program[3].code, LD_IMM64);
        assert_eq!((program[3].regs >> 4, program[3].imm), (PSEUDO_MAP_FD, 42));
        assert_eq!(program[4], BpfInsn::new(0, 0, 0, 0, 0));
        // The destination address is what is read.
        assert_eq!(program[1].imm, IPV4_DESTINATION_AT);
        // A miss jumps over the load to "r0 = 0; exit".
        let miss = 8 + 1 + program[8].off as usize;
        assert_eq!(program[miss], BpfInsn::new(MOV64_IMM, 0, 0, 0, 0));
        assert_eq!(program.last().map(|i| i.code), Some(EXIT));
    }
}
