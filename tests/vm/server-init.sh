#!/bin/sh
# PID 1 of the reference server guest (see build-guest.sh): poptop pptpd + pppd,
# the stack pptpd-rs replaces, configured as a typical gateway (MS-CHAPv2,
# require-mppe-128). The stock-client guest is checked against it, so that the
# client harness is known to work before pptpd-rs is put in its place.
#
# Parameters from the kernel command line as pptpsrv.NAME=VALUE (no spaces):
#   lan wan           eth0 and eth1 addresses (ADDR/PLEN)
#   localip remoteip  pptpd.conf's localip and remoteip (A.B.C.D-E)
#   users             user:password,user:password
# eth1 is the egress: forwarding is on, there is no NAT (the internet side needs a
# route back to the pool). Prints SERVER-READY once pptpd runs, then the syslog
# (pptpd, pptpctrl, pppd debug) with the prefix "srv: ".
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
exec </dev/null >/dev/console 2>&1
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" || echo "SERVER-INFO insmod-failed $m"; done
syslogd -O /tmp/syslog

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^pptpsrv\.$1=//p" | tail -n1; }
LAN=$(arg lan); WAN=$(arg wan); LOCALIP=$(arg localip); REMOTEIP=$(arg remoteip)
USERS=$(arg users)
ip link set lo up
ip addr add "$LAN" dev eth0; ip link set eth0 up
ip addr add "$WAN" dev eth1; ip link set eth1 up
echo 1 > /proc/sys/net/ipv4/ip_forward

cat > /etc/pptpd.conf <<EOF
option /etc/ppp/pptpd-options
localip $LOCALIP
remoteip $REMOTEIP
EOF
# Debian's /etc/ppp/pptpd-options without proxyarp (the pool is not on the LAN),
# with pppd's packet log.
cat > /etc/ppp/pptpd-options <<EOF
name pptpd
refuse-pap
refuse-chap
refuse-mschap
require-mschap-v2
require-mppe-128
nodefaultroute
lock
nobsdcomp
novj
novjccomp
nologfd
debug
EOF
: > /etc/ppp/chap-secrets
for u in $(echo "$USERS" | tr ',' ' '); do
  echo "${u%%:*} pptpd \"${u#*:}\" *" >> /etc/ppp/chap-secrets
done
chmod 600 /etc/ppp/chap-secrets
touch /var/log/wtmp /var/run/utmp

pptpd --fg &
for i in $(seq 40); do [ -e /var/run/pptpd.pid ] && break; sleep 0.1; done
echo "SERVER-READY lan=$LAN wan=$WAN pool=$REMOTEIP"
tail -f /tmp/syslog | sed 's/^/srv: /' &
while true; do sleep 1000; done
