#!/bin/bash
# Boots the stock-client guest (see build-guest.sh, guest-init.sh) on a TAP device
# and prints its console on stdout, line by line as it happens. Exit status 0 only
# if the guest printed `GUEST-RESULT ok`.
#
# usage: client-vm.sh --tap TAP --ip ADDR/PLEN --server IP --user U --pass P
#                     [--netns NS] [--ping IP] [--bigping SIZE]
#                     [--fetch URL [--md5 SUM]] [--mppe 128|40|none]
#                     [--expect up|reject] [--hold SECS] [--logins N]
#                     [--user2 U --pass2 P [--expect2 up|reject]
#                      [--second-conn separate|shared]]
#                     [--connect-timeout SECS] [--fetch-timeout SECS]
#                     [--timeout SECS] [--guest DIR]
#                     [--pcap FILE] [--pidfile FILE] [--mac MAC]
# The TAP device must exist already (in NS when --netns is given), up, with the
# server's address on it (or on a bridge it is a port of). qemu runs in software
# emulation; the guest boots in a few seconds. Values must not contain spaces
# (they travel on the guest kernel's command line).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TAP= NETNS= TIMEOUT=120 GUEST= PCAP= PIDFILE= MAC= ARGS=()
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "client-vm: $1 needs a value" >&2; exit 2; }
  case "$1" in
    --tap) TAP=$2 ;;
    --netns) NETNS=$2 ;;
    --timeout) TIMEOUT=$2 ;;
    --guest) GUEST=$2 ;;
    --pcap) PCAP=$2 ;;
    --pidfile) PIDFILE=$2 ;;
    --mac) MAC=$2 ;;
    --ip|--server|--user|--pass|--ping|--bigping|--fetch|--md5|--mppe|--expect|--hold|\
    --logins|--user2|--pass2|--expect2|--second-conn|--connect-timeout|--fetch-timeout)
      case "$2" in *[[:space:]]*|'') echo "client-vm: $1 '$2': empty or has spaces" >&2; exit 2 ;; esac
      name=${1#--}
      ARGS+=("pptp.${name//-/_}=$2") ;;
    *) echo "client-vm: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$TAP" ] || { echo "client-vm: --tap is required" >&2; exit 2; }
GUEST=${GUEST:-$("$HERE/build-guest.sh")}
# The uncompressed kernel boots faster (PVH, no self-decompression); see build-guest.sh.
KERNEL=$GUEST/vmlinux
[ -s "$KERNEL" ] || KERNEL=$GUEST/vmlinuz
[ -n "$MAC" ] || MAC=52:54:00:$(printf '%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
# romfile= drops the NIC's iPXE boot ROM: nothing boots from the network here.
# event_idx=off: with the event-index notification (the default), qemu 7.2's virtio-net
# under software emulation now and then stops moving the guest's packets when the host
# is busy (see README.md, "Known flake"); the plain used-ring flags do not.
CMD=(qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot -nodefaults
  -serial stdio -kernel "$KERNEL" -initrd "$GUEST/client.cpio.gz"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 ${ARGS[*]}"
  -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no${PCAP:+,vnet_hdr=off}"
  -device "virtio-net-pci,netdev=n0,mac=$MAC,romfile=,event_idx=off")
[ -z "$PCAP" ] || CMD+=(-object "filter-dump,id=f0,netdev=n0,file=$PCAP")
[ -z "$PIDFILE" ] || CMD+=(-pidfile "$PIDFILE")
[ -z "$NETNS" ] || CMD=(ip netns exec "$NETNS" "${CMD[@]}")
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# --foreground keeps qemu in this process group, so whoever runs this script can
# stop everything at once by signalling the group.
timeout --foreground -k 5 "$TIMEOUT" "${CMD[@]}" </dev/null 2>&1 |
  sed -u 's/\r//g' | tee "$LOG" | grep -a --line-buffered -v '^[[:space:]]*$' || true
grep -aq '^GUEST-RESULT ok' "$LOG" && exit 0
grep -aq '^GUEST-RESULT' "$LOG" || echo "client-vm: the guest gave no result within ${TIMEOUT}s" >&2
exit 1
