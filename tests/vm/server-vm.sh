#!/bin/bash
# Boots the reference server guest (poptop pptpd + pppd; see build-guest.sh and
# server-init.sh) with its LAN on one TAP device and its WAN on another, and prints
# its console until it is killed or the timeout passes. `SERVER-READY` means pptpd
# runs; lines starting with "srv: " are its syslog (pptpd, pptpctrl, pppd debug).
#
# usage: server-vm.sh --lan-tap TAP --wan-tap TAP [--netns NS]
#                     [--lan 10.100.100.1/24] [--wan 198.51.100.1/24]
#                     [--localip 203.0.113.1] [--remoteip 203.0.113.10-20]
#                     [--users root:123456,user2:pass2]
#                     [--timeout SECS] [--guest DIR] [--pidfile FILE] [--pcap FILE]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAN_TAP= WAN_TAP= NETNS= TIMEOUT=600 GUEST= PIDFILE= PCAP=
LAN=10.100.100.1/24 WAN=198.51.100.1/24 LOCALIP=203.0.113.1 REMOTEIP=203.0.113.10-20
USERS=root:123456
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "server-vm: $1 needs a value" >&2; exit 2; }
  case "$2" in *[[:space:]]*|'') echo "server-vm: $1 '$2': empty or has spaces" >&2; exit 2 ;; esac
  case "$1" in
    --lan-tap) LAN_TAP=$2 ;;
    --wan-tap) WAN_TAP=$2 ;;
    --netns) NETNS=$2 ;;
    --lan) LAN=$2 ;;
    --wan) WAN=$2 ;;
    --localip) LOCALIP=$2 ;;
    --remoteip) REMOTEIP=$2 ;;
    --users) USERS=$2 ;;
    --timeout) TIMEOUT=$2 ;;
    --guest) GUEST=$2 ;;
    --pidfile) PIDFILE=$2 ;;
    --pcap) PCAP=$2 ;;
    *) echo "server-vm: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$LAN_TAP" ] && [ -n "$WAN_TAP" ] || { echo "server-vm: --lan-tap and --wan-tap are required" >&2; exit 2; }
GUEST=${GUEST:-$("$HERE/build-guest.sh")}
KERNEL=$GUEST/vmlinux
[ -s "$KERNEL" ] || KERNEL=$GUEST/vmlinuz
# event_idx=off, romfile=: as in client-vm.sh.
CMD=(qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot -nodefaults
  -serial stdio -kernel "$KERNEL" -initrd "$GUEST/server.cpio.gz"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 pptpsrv.lan=$LAN pptpsrv.wan=$WAN pptpsrv.localip=$LOCALIP pptpsrv.remoteip=$REMOTEIP pptpsrv.users=$USERS"
  -netdev "tap,id=n0,ifname=$LAN_TAP,script=no,downscript=no"
  -device "virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:01,romfile=,event_idx=off"
  -netdev "tap,id=n1,ifname=$WAN_TAP,script=no,downscript=no"
  -device "virtio-net-pci,netdev=n1,mac=52:54:00:5e:00:02,romfile=,event_idx=off")
[ -z "$PCAP" ] || CMD+=(-object "filter-dump,id=f0,netdev=n0,file=$PCAP")
[ -z "$PIDFILE" ] || CMD+=(-pidfile "$PIDFILE")
[ -z "$NETNS" ] || CMD=(ip netns exec "$NETNS" "${CMD[@]}")
# --foreground keeps qemu in this process group (see client-vm.sh).
timeout --foreground -k 5 "$TIMEOUT" "${CMD[@]}" </dev/null 2>&1 |
  sed -u 's/\r//g' | grep -a --line-buffered -v '^[[:space:]]*$' || true
