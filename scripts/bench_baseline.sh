#!/usr/bin/env bash
# The hand-written baseline of `make bench`: the flagship's containers started by plain docker commands, as a
# person who knows exactly what to type would start them, control plane included, then the same curl.
# Everything it reads is prepared beforehand in $1 by scripts/bench.py (rendered stack, cluster PKI,
# kubeconfigs, client secret files, Envoy bootstrap), so only starting and proving is timed.
# Usage: bench_baseline.sh PREPARED_DIR (prints nothing on success; exits non-zero on failure)
set -euo pipefail
dir=$1
p=base
net=kind
subnet=172.18.0.0/16
haproxy_ip=172.18.255.249
labels=(--label lab.dev/bench=baseline)
img() { sed -n "s/^  $1: //p" "$dir/images.yaml"; }

docker network inspect $net >/dev/null 2>&1 || docker network create --subnet $subnet "${labels[@]}" $net >/dev/null

# control plane
docker run -d --name $p-etcd --network $net "${labels[@]}" --tmpfs /var/lib/etcd "$(img etcd)" \
  etcd --data-dir /var/lib/etcd --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://$p-etcd:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn >/dev/null
docker run -d --name $p-apiserver --network $net --network-alias $p-control-plane "${labels[@]}" -p 127.0.0.1::6443 \
  -v "$dir/pki:/etc/kubernetes/pki:ro" "$(img kubeApiserver)" kube-apiserver --etcd-servers=http://$p-etcd:2379 \
  --secure-port=6443 --tls-cert-file=/etc/kubernetes/pki/apiserver.crt --tls-private-key-file=/etc/kubernetes/pki/apiserver.key \
  --client-ca-file=/etc/kubernetes/pki/ca.crt --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=/etc/kubernetes/pki/sa.pub --service-account-signing-key-file=/etc/kubernetes/pki/sa.key \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC --enable-aggregator-routing=true >/dev/null
port=$(docker port $p-apiserver 6443/tcp | head -1 | cut -d: -f2)
until curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" "https://127.0.0.1:$port/readyz" >/dev/null; do
  sleep 0.2
done
for component in controller-manager scheduler; do
  image=$([ $component = scheduler ] && img kubeScheduler || img kubeControllerManager)
  extra=(--tls-cert-file=/etc/kubernetes/pki/$component-server.crt --tls-private-key-file=/etc/kubernetes/pki/$component-server.key)
  [ $component = controller-manager ] && extra+=(--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt
    --cluster-signing-key-file=/etc/kubernetes/pki/ca.key --root-ca-file=/etc/kubernetes/pki/ca.crt
    --service-account-private-key-file=/etc/kubernetes/pki/sa.key --use-service-account-credentials=true)
  docker run -d --name $p-$component --network $net "${labels[@]}" -v "$dir/pki:/etc/kubernetes/pki:ro" \
    -v "$dir/$component.conf:/etc/kubernetes/$component.conf:ro" "$image" kube-$component \
    --kubeconfig=/etc/kubernetes/$component.conf --leader-elect=false "${extra[@]}" >/dev/null
done

# the stack, the client "pod", the redirect and Envoy
docker compose -p $p -f "$dir/rendered/stack/compose.yaml" up -d --wait >/dev/null 2>&1
docker run -d --name $p-curl --network $net "${labels[@]}" -v "$dir/client-certs:/certs:ro" "$(img client)" sleep infinity >/dev/null
docker run -d --name $p-datapath --network container:$p-curl --cap-add NET_ADMIN "${labels[@]}" "$(img client)" sleep infinity >/dev/null
docker exec $p-datapath iptables -t nat -A OUTPUT -p tcp -d $haproxy_ip/32 --dport 8083 -m owner ! --uid-owner 101 -j REDIRECT --to-ports 15000
docker run -d --name $p-envoy --network container:$p-curl --user 101 "${labels[@]}" -v "$dir/envoy:/etc/envoy:ro" "$(img envoy)" \
  envoy -c /etc/envoy/envoy.yaml --disable-hot-restart -l warning >/dev/null
for _ in $(seq 1 100); do
  if docker exec $p-curl curl -sf --max-time 2 http://$haproxy_ip:8083/ | grep -qi mtls-inject-client; then exit 0; fi
  sleep 0.1
done
echo "baseline: the injected request never succeeded" >&2
exit 1
