#!/usr/bin/env bash
# The baseline berth is measured against: the same steps for N lab hosts, written by hand
# as a minimal script (namespace, sshd, CA + certs with openssl, daemon.json over ssh, dockerd, wait for TLS).
# usage: handmade.sh up|swarm|down N SUBNET_PREFIX(e.g. 172.30.86) WORKDIR   (swarm = up, then one swarm)
set -euo pipefail
action=$1 n=$2 net=$3 work=$4
br=bhand$(echo "$net" | tr -d . | tail -c 5)
if [ "$action" = down ]; then
  for i in $(seq 1 "$n"); do
    [ -f "$work/h$i/init.pid" ] && kill -9 "$(cat "$work/h$i/init.pid")" 2>/dev/null || true
    ip netns del "hand$i-$br" 2>/dev/null || true
  done
  sleep 0.2; ip link del "$br" 2>/dev/null || true
  for c in /sys/fs/cgroup/*/hand-"$br"-*; do rmdir "$c" 2>/dev/null || true; done
  rm -rf "$work"; exit 0
fi
mkdir -p "$work" /etc/docker /var/lib/docker
ip link add "$br" type bridge; ip addr add "$net.1/24" dev "$br"; ip link set "$br" up
cd "$work"
ssh-keygen -q -t ed25519 -N '' -f id
openssl ecparam -genkey -name prime256v1 -out ca-key.pem 2>/dev/null
openssl req -x509 -new -key ca-key.pem -subj /CN=ca -days 30 -out ca.pem
openssl ecparam -genkey -name prime256v1 -out key.pem 2>/dev/null
openssl req -new -key key.pem -subj /CN=client -out c.csr
printf 'extendedKeyUsage=clientAuth\n' > c.ext
openssl x509 -req -in c.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile c.ext -out cert.pem 2>/dev/null
host() {
  local i=$1 ip="$net.$((10 + $1))" d="$work/h$1" ns="hand$1-$br"
  mkdir -p "$d"/{etc-docker,docker,log}
  ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
  printf 'ListenAddress 0.0.0.0:22\nHostKey %s/hostkey\nAuthorizedKeysFile %s/id.pub\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nPidFile /run/sshd.pid\nSubsystem sftp internal-sftp\n' "$d" "$work" > "$d/sshd_config"
  ip netns add "$ns"
  ip link add "vh$i$br" type veth peer name eth0 netns "$ns"
  ip link set "vh$i$br" master "$br" up
  ip -n "$ns" addr add "$ip/24" dev eth0; ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
  nsenter --net=/run/netns/"$ns" unshare --mount --uts --pid --fork sh -c "read -r pid rest < /proc/self/stat; echo \$pid > $d/init.pid; mount --make-rprivate /; hostname hand$i; mount --bind $d/etc-docker /etc/docker; mount --bind $d/docker /var/lib/docker; mount --bind $d/log /var/log; mkdir -p -m 700 $d/root; mount --bind $d/root /root; mount -t tmpfs tmpfs /run; mkdir -p /run/sshd; mount -t proc proc /proc; exec perl -e 'while (1) { sleep 1 if wait() == -1 }'" </dev/null >/dev/null 2>&1 &
  while [ ! -s "$d/init.pid" ]; do sleep 0.02; done; sleep 0.05
  nsenter -t "$(cat "$d/init.pid")" -a /usr/sbin/sshd -f "$d/sshd_config"
  openssl ecparam -genkey -name prime256v1 -out "$d/server-key.pem" 2>/dev/null
  openssl req -new -key "$d/server-key.pem" -subj "/CN=hand$i" -out "$d/s.csr"
  printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$ip" > "$d/s.ext"
  # One serial per host: -CAcreateserial from parallel hosts races on ca.srl.
  openssl x509 -req -in "$d/s.csr" -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$d/s.ext" -out "$d/server.pem" 2>/dev/null
  printf '{"hosts":["unix:///var/run/docker.sock","tcp://0.0.0.0:2376"],"tlsverify":true,"tlscacert":"/etc/docker/ca.pem","tlscert":"/etc/docker/server.pem","tlskey":"/etc/docker/server-key.pem","cgroup-parent":"/hand-%s-%s"}\n' "$br" "$i" > "$d/daemon.json"
  local o="-i $work/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=error"
  until ssh $o -o ConnectTimeout=1 root@"$ip" true 2>/dev/null; do sleep 0.05; done
  scp -q $o ca.pem "$d/server.pem" "$d/server-key.pem" "$d/daemon.json" root@"$ip":/etc/docker/
  ssh $o root@"$ip" 'chmod 600 /etc/docker/server-key.pem; setsid -f dockerd </dev/null >>/var/log/docker.log 2>&1'
  until curl -sf --cacert ca.pem --cert cert.pem --key key.pem "https://$ip:2376/_ping" >/dev/null; do sleep 0.05; done
}
pids=""
for i in $(seq 1 "$n"); do host "$i" & pids="$pids $!"; done
for p in $pids; do wait "$p"; done
if [ "$action" = swarm ]; then
  d() { local ip=$1; shift; docker --tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem -H "tcp://$ip:2376" "$@"; }
  d "$net.11" swarm init --advertise-addr "$net.11" >/dev/null
  token=$(d "$net.11" swarm join-token -q worker)
  for i in $(seq 2 "$n"); do d "$net.$((10 + i))" swarm join --token "$token" "$net.11:2377" >/dev/null & done
  wait
fi
