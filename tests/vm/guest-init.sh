#!/bin/sh
# PID 1 of the stock-client guest (see build-guest.sh). It sets the client up the
# way the operator guide does -- the peer file `pptpsetup --create test --server S
# --username U --password P --encrypt` writes, Debian's options.pptp, `pppd call
# test`, then the guide's routes -- and checks the tunnel.
#
# Parameters come from the kernel command line as pptp.NAME=VALUE (no spaces):
#   ip server user pass       eth0 address (ADDR/PLEN), the gateway, the account
#   ping bigping              egress ping target, near-MTU ping payload size
#   fetch md5                 URL (http://HOST:PORT/blob) fetched with busybox wget, its
#                             expected md5; the file then goes back up as hex to
#                             http://HOST:PORT/hex/SIZE (upload), where it is verified
#   mppe                      128 (default), 40 or none
#   expect                    up (default) or reject (a wrong password)
#   hold                      seconds to keep the link up before hanging up
#   logins                    how many times to log in one after the other (default 1)
#   user2 pass2 expect2       a second, concurrent login
#   second_conn               separate (default): the second login opens its own
#                             control connection from the same address, as a second
#                             client behind one NAT would (pptp --localbind);
#                             shared: pptp-linux's call manager carries it as a
#                             second call on the first control connection
#   fetch_timeout             seconds for the fetch (default 120)
#   connect_timeout           seconds to wait for ppp0 (default 30)
#
# Output on the console, one line each:
#   GUEST-CHECK <name> ok|fail <detail>     GUEST-INFO <key> <value>
#   pppd: ..., pppd2: ..., pppd#2: ...      pppd's debug log (every LCP/CHAP/CCP/IPCP packet)
#   syslog: ...                             pptp's log (at the end)
#   GUEST-RESULT ok|fail                    the last line
# After a failed check: GUEST-INFO lan-after-failure alive|dead (a ping of the server on the
# LAN), GUEST-INFO eth0-counters (/proc/net/dev), and dmesg's last lines.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
exec </dev/null >/dev/console 2>&1
echo "GUEST-INFO init-uptime $(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" || echo "GUEST-INFO insmod-failed $m"; done
syslogd -O /tmp/syslog

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^pptp\.$1=//p" | tail -n1; }
IP=$(arg ip); SERVER=$(arg server); USER=$(arg user); PASS=$(arg pass)
PING=$(arg ping); BIGPING=$(arg bigping); FETCH=$(arg fetch); MD5=$(arg md5)
MPPE=$(arg mppe); EXPECT=$(arg expect); HOLD=$(arg hold); LOGINS=$(arg logins)
USER2=$(arg user2); PASS2=$(arg pass2); EXPECT2=$(arg expect2)
CONNECT_TIMEOUT=$(arg connect_timeout); SECOND_CONN=$(arg second_conn)
FETCH_TIMEOUT=$(arg fetch_timeout)
: "${EXPECT:=up}" "${EXPECT2:=up}" "${LOGINS:=1}" "${CONNECT_TIMEOUT:=30}"
: "${SECOND_CONN:=separate}" "${FETCH_TIMEOUT:=120}"

FAILED=0
check() { # name ok|fail detail
  echo "GUEST-CHECK $1 $2 $3"
  [ "$2" = ok ] || FAILED=1
}
finish() {
  sleep 0.3 # let the log readers drain
  grep -v 'pppd\[' /tmp/syslog 2>/dev/null | sed 's/^/syslog: /'
  if [ "$FAILED" != 0 ]; then
    # Is the guest's own LAN still alive? The server's kernel answers this ping (no PPTP):
    # "dead" means the guest's emulated NIC (or the host) stopped passing packets.
    if ping -c 3 -i 0.3 -W 2 "$SERVER" >/dev/null 2>&1; then
      echo "GUEST-INFO lan-after-failure alive"
    else
      echo "GUEST-INFO lan-after-failure dead"
    fi
    sed -n 's/^ *eth0: */GUEST-INFO eth0-counters /p' /proc/net/dev
    dmesg | tail -n 15 | sed 's/^/dmesg: /'
  fi
  echo "GUEST-INFO done-uptime $(cut -d' ' -f1 /proc/uptime)"
  if [ "$FAILED" = 0 ]; then echo "GUEST-RESULT ok"; else echo "GUEST-RESULT fail"; fi
  sync; poweroff -f
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

ip link set lo up
if ip addr add "$IP" dev eth0 && ip link set eth0 up; then
  check eth0 ok "addr=$IP"
else
  check eth0 fail "addr=$IP"; finish
fi
# The gateway must answer on the LAN before PPTP can work at all.
if ping -c 3 -i 0.3 -W 2 "$SERVER" >/dev/null 2>&1; then check lan-ping ok "$SERVER"
else check lan-ping fail "$SERVER"; fi

# What `pptpsetup --create NAME --server S --username U --password P --encrypt` writes.
case "$MPPE" in
  none) ENC="" ;;
  40) ENC="require-mppe-40" ;;
  *) ENC="require-mppe-128" ;;
esac
write_peer() { # peer-name user [extra pptp options]
  cat > "/etc/ppp/peers/$1" <<EOF
pty "/usr/sbin/pptp $SERVER --nolaunchpppd$3"
lock
noauth
nobsdcomp
nodeflate
name $2
remotename $1
ipparam $1
$ENC
EOF
}
write_peer test "$USER"
echo "$USER test \"$PASS\" *" > /etc/ppp/chap-secrets
if [ -n "$USER2" ]; then
  # pptp-linux names its call manager socket after the local bind address and
  # the server, so a different --localbind means a separate control connection.
  if [ "$SECOND_CONN" = shared ]; then write_peer test2 "$USER2"
  else write_peer test2 "$USER2" " --localbind ${IP%/*}"; fi
  echo "$USER2 test2 \"$PASS2\" *" >> /etc/ppp/chap-secrets
fi
chmod 600 /etc/ppp/chap-secrets
# Debian's /etc/ppp/options.pptp, as pptp-linux ships it.
cat > /etc/ppp/options.pptp <<EOF
lock
noauth
refuse-pap
refuse-eap
refuse-chap
refuse-mschap
nobsdcomp
nodeflate
EOF

# start_pppd TAG PEER UNIT: runs `pppd call PEER` in the background with its log on
# the console (each line prefixed "TAG: ") and in /tmp/TAG.log; sets PPPD_PID.
start_pppd() {
  rm -f "/tmp/$1.fifo" "/tmp/$1.log"; mkfifo "/tmp/$1.fifo"
  (while IFS= read -r l; do echo "$1: $l"; echo "$l" >> "/tmp/$1.log"; done) < "/tmp/$1.fifo" &
  pppd call "$2" file /etc/ppp/options.pptp unit "$3" debug nodetach > "/tmp/$1.fifo" 2>&1 &
  PPPD_PID=$!
}
# wait_up IFACE PID: waits until IFACE has an address or pppd exits.
wait_up() {
  n=$((CONNECT_TIMEOUT * 4))
  while [ $n -gt 0 ]; do
    ip -4 addr show "$1" 2>/dev/null | grep -q inet && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.25; n=$((n - 1))
  done
  return 1
}
addr_of() { ip -4 addr show "$1" 2>/dev/null | sed -n 's/.*inet \([0-9.]*\).*/\1/p'; }
peer_of() { ip -4 addr show "$1" 2>/dev/null | sed -n 's/.*peer \([0-9.]*\).*/\1/p'; }
# wait_exit PID SECS: waits up to SECS for pppd to exit; sets ST to its exit status
# or to "running". (A function, not $(...): only this shell can wait for pppd.)
wait_exit() {
  n=$(($2 * 4))
  while [ $n -gt 0 ] && kill -0 "$1" 2>/dev/null; do sleep 0.25; n=$((n - 1)); done
  if kill -0 "$1" 2>/dev/null; then ST=running; else wait "$1"; ST=$?; fi
}
# The MS-CHAPv2 failure packet pppd logged, e.g. "E=691 R=1 C=... V=0 M=Access denied".
chap_failure() { sed -n 's/.*rcvd \[CHAP Failure [^"]*"\(E=[^"]*\)".*/\1/p' "/tmp/$1.log" | head -n1; }

# expect_reject TAG PID SUFFIX: a wrong password must not bring the link up, the
# gateway must say so with E=691, and pppd must give up by itself.
expect_reject() {
  if [ -z "$4" ]; then check "connect-refused$3" ok "no-address"
  else check "connect-refused$3" fail "got=$4"; fi
  wait_exit "$2" 15
  fail=$(chap_failure "$1")
  case "$fail" in
    E=691*) check "auth-failure$3" ok "$(echo "$fail" | cut -d' ' -f1,2,4-)" ;;
    *) check "auth-failure$3" fail "no-E=691-in-log ${fail}" ;;
  esac
  if [ "$ST" = running ]; then check "pppd-exited$3" fail "still-running"; kill "$2"
  else check "pppd-exited$3" ok "status=$ST"; fi
}

# The second, concurrent login: a second call while the first one is up.
second_login() { # PEER1
  start_pppd pppd2 test2 1
  P2=$PPPD_PID
  T0=$(uptime_s)
  wait_up ppp1 "$P2"
  A2=$(addr_of ppp1); PEER2=$(peer_of ppp1)
  if [ "$EXPECT2" = reject ]; then
    expect_reject pppd2 "$P2" 2 "$A2"
  elif [ -n "$A2" ]; then
    check connect2 ok "addr=$A2 peer=$PEER2 secs=$(echo "$(uptime_s) $T0" | awk '{print $1-$2}')"
    if [ "$A2" = "$ADDR" ]; then check distinct-addresses fail "both=$A2"
    else check distinct-addresses ok "$ADDR $A2"; fi
    ping -c 3 -i 0.3 -W 3 -I ppp1 "$PEER2" >/dev/null 2>&1 && check peer-ping2 ok "$PEER2" || check peer-ping2 fail "$PEER2"
    ping -c 2 -i 0.3 -W 3 -I ppp0 "$1" >/dev/null 2>&1 && check first-still-up ok "$1" || check first-still-up fail "$1"
    if ! kill -0 "$P2" 2>/dev/null; then
      wait_exit "$P2" 1
      check hangup2 fail "link-went-down-before-hangup pppd-status=$ST"
    else
      kill "$P2"
      wait_exit "$P2" 10
      if [ "$ST" = running ]; then check hangup2 fail "pppd-still-running"; kill -9 "$P2"
      else check hangup2 ok "status=$ST"; fi
    fi
  else
    wait_exit "$P2" 1
    [ "$ST" = running ] && kill "$P2"
    check connect2 fail "no-ppp1-address pppd-status=$ST"
  fi
  # Whatever happened to the second login, the first link must not notice.
  sleep 1
  ping -c 2 -i 0.3 -W 3 -I ppp0 "$1" >/dev/null 2>&1 && check first-survives ok "$1" || check first-survives fail "$1"
}

round=1
while [ "$round" -le "$LOGINS" ]; do
  S=""; [ "$round" = 1 ] || S="#$round"
  start_pppd "pppd$S" test 0
  PPPD=$PPPD_PID
  T0=$(uptime_s)
  wait_up ppp0 "$PPPD"
  ADDR=$(addr_of ppp0); PEER=$(peer_of ppp0)
  if [ "$EXPECT" = reject ]; then
    expect_reject "pppd$S" "$PPPD" "$S" "$ADDR"
    round=$((round + 1)); continue
  fi
  if [ -n "$ADDR" ]; then
    check "connect$S" ok "addr=$ADDR peer=$PEER secs=$(echo "$(uptime_s) $T0" | awk '{print $1-$2}')"
  else
    wait_exit "$PPPD" 1
    [ "$ST" = running ] && kill "$PPPD"
    check "connect$S" fail "no-ppp0-address pppd-status=$ST"
    finish
  fi
  for i in 1 2 3 4 5 6; do # the log reader may lag behind pppd a little
    MPPE_LINE=$(sed -n 's/.*\(MPPE .* enabled\).*/\1/p' "/tmp/pppd$S.log" | head -n1)
    [ -n "$MPPE_LINE" ] && break; sleep 0.25
  done
  if [ -n "$MPPE_LINE" ]; then check "mppe$S" ok "$(echo "$MPPE_LINE" | tr ' ' '-')"
  elif [ "$MPPE" = none ]; then check "mppe$S" ok "not-required"
  else check "mppe$S" fail "not-enabled"; fi
  ping -c 3 -i 0.3 -W 3 "$PEER" >/dev/null 2>&1 && check "peer-ping$S" ok "$PEER" || check "peer-ping$S" fail "$PEER"

  # The guide's routes: private ranges stay on eth0, everything else goes into the tunnel.
  for net in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 9.0.0.0/8 100.64.0.0/10; do
    ip route add $net dev eth0 2>/dev/null
  done
  ip route add 0.0.0.0/0 dev ppp0 2>/dev/null
  if [ -n "$PING" ]; then
    ping -c 4 -i 0.3 -W 3 "$PING" >/dev/null 2>&1 && check "egress-ping$S" ok "$PING" || check "egress-ping$S" fail "$PING"
  fi
  if [ -n "$BIGPING" ]; then
    # A near-MTU echo through the tunnel: MRU handling and fragmentation.
    BIGTO=${PING:-$PEER}
    ping -c 3 -i 0.3 -W 3 -s "$BIGPING" "$BIGTO" >/dev/null 2>&1 &&
      check "big-ping$S" ok "size=$BIGPING to=$BIGTO" || check "big-ping$S" fail "size=$BIGPING to=$BIGTO"
  fi
  if [ -n "$FETCH" ]; then
    rm -f /tmp/blob
    F0=$(uptime_s)
    # busybox 1.35's wget crashes with -T (Debian's static build): use timeout(1).
    if timeout "$FETCH_TIMEOUT" wget -q -O /tmp/blob "$FETCH"; then
      F1=$(uptime_s)
      GOT=$(md5sum /tmp/blob | cut -d' ' -f1); SIZE=$(wc -c < /tmp/blob)
      RATE="bytes=$SIZE md5=$GOT $(echo "$SIZE $F1 $F0" | awk '{t=$2-$3; if (t<=0) t=0.01; printf "secs=%.2f kbit_s=%.0f", t, $1*8/t/1000}')"
      if [ -z "$MD5" ] || [ "$GOT" = "$MD5" ]; then
        check "fetch$S" ok "$RATE"
        # Upstream bulk: the same bytes back with POST, as hex (busybox wget posts a file
        # as a string: it would stop at the first zero byte); the server verifies each one.
        od -An -v -tx1 /tmp/blob | tr -d ' \n' > /tmp/blob.hex
        U0=$(uptime_s)
        if timeout "$FETCH_TIMEOUT" wget -q -O /dev/null --post-file /tmp/blob.hex "${FETCH%/blob}/hex/$SIZE"; then
          U1=$(uptime_s)
          check "upload$S" ok "bytes=$SIZE $(echo "$SIZE $U1 $U0" | awk '{t=$2-$3; if (t<=0) t=0.01; printf "secs=%.2f kbit_s=%.0f", t, $1*16/t/1000}')"
        else
          check "upload$S" fail "wget-error-timeout-or-refused"
        fi
      else check "fetch$S" fail "$RATE want=$MD5"; fi
    else
      check "fetch$S" fail "wget-error-or-timeout"
    fi
    rm -f /tmp/blob /tmp/blob.hex
  fi
  [ -n "$USER2" ] && [ "$round" = 1 ] && second_login "$PEER"
  [ -n "$HOLD" ] && { echo "GUEST-INFO holding $HOLD"; sleep "$HOLD"; }
  # A clean hang-up: pppd sends LCP Terminate, pptp clears the call and the
  # control connection. pppd exits with 5 (or 16 when pptp has hung up first).
  if ! kill -0 "$PPPD" 2>/dev/null; then
    wait_exit "$PPPD" 1
    check "hangup$S" fail "link-went-down-before-hangup pppd-status=$ST"
  else
    kill "$PPPD" 2>/dev/null
    wait_exit "$PPPD" 10
    if [ "$ST" = running ]; then check "hangup$S" fail "pppd-still-running"; kill -9 "$PPPD"
    else check "hangup$S" ok "status=$ST"; fi
  fi
  round=$((round + 1))
  # pptp's call manager lingers briefly after the call is cleared.
  [ "$round" -le "$LOGINS" ] && sleep 1
done
finish
