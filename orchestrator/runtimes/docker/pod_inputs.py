"""What a pod's container gets from the API, as the kubelet gives it: Secret, ConfigMap, projected and
downwardAPI volumes written as the kubelet's atomic writer does (and refreshed), emptyDir as tmpfs, env from
values, fields and references, the user and groups its securityContext asks for."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time

from orchestrator.providers.docker import FileSpec
from orchestrator.runtimes.docker.pod_spec import VOLUME_REFRESH, Refused, Unsupported


class PodInputs:
    """Part of the node (it uses the node's API, engine and records): a pod's volumes, env and identity."""

    def _secret(self, namespace: str, name: str) -> dict:
        return self._api("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")

    def _config_map(self, namespace: str, name: str) -> dict:
        return self._api("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def _token(self, pod: dict, expiration: int, audience: str | None) -> str:
        meta = pod["metadata"]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration, **({"audiences": [audience]} if audience else {}),
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"], "uid": meta["uid"]}}}
        account = pod["spec"].get("serviceAccountName") or "default"
        return self._api("POST", f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", body)["status"]["token"]

    def _items(self, data: dict, items: list | None, mode: int, optional_keys: bool = False) -> dict[str, tuple[bytes, int]]:
        if not items:
            return {key: (value, mode) for key, value in data.items()}
        out = {}
        for item in items:
            if item["key"] in data:
                out[item["path"]] = (data[item["key"]], item.get("mode", mode))
        return out

    def _volume_files(self, pod: dict, volume: dict) -> dict[str, tuple[bytes, int]]:
        namespace = pod["metadata"]["namespace"]
        if "secret" in volume:
            src = volume["secret"]
            secret = self._secret(namespace, src["secretName"])
            data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
            return self._items(data, src.get("items"), src.get("defaultMode", 0o644))
        if "configMap" in volume:
            src = volume["configMap"]
            cm = self._config_map(namespace, src["name"])
            data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
            return self._items(data, src.get("items"), src.get("defaultMode", 0o644))
        if "downwardAPI" in volume:
            return self._downward(pod, volume["downwardAPI"].get("items") or [], volume["downwardAPI"].get("defaultMode", 0o644))
        if "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            files: dict[str, tuple[bytes, int]] = {}
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    sat = source["serviceAccountToken"]
                    files[sat["path"]] = (self._token(pod, sat.get("expirationSeconds", 3607), sat.get("audience")).encode(), mode)
                elif "configMap" in source:
                    cm = self._config_map(namespace, source["configMap"]["name"])
                    files.update(self._items({k: v.encode() for k, v in (cm.get("data") or {}).items()}, source["configMap"].get("items"), mode))
                elif "secret" in source:
                    secret = self._secret(namespace, source["secret"]["name"])
                    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
                    files.update(self._items(data, source["secret"].get("items"), mode))
                elif "downwardAPI" in source:
                    files.update(self._downward(pod, source["downwardAPI"].get("items") or [], mode))
                else:
                    raise Unsupported(f"spec.volumes[{volume['name']}].projected", f"source {', '.join(source)} is not supported")
            return files
        return {}

    def _downward(self, pod: dict, items: list, mode: int) -> dict[str, tuple[bytes, int]]:
        files = {}
        for item in items:
            path = (item.get("fieldRef") or {}).get("fieldPath")
            value = self._field(pod, path) if path else None
            if value is None:
                raise Unsupported("downwardAPI", f"{item.get('path')}: only metadata fields are supported")
            files[item["path"]] = (value.encode(), item.get("mode", mode))
        return files

    def _field(self, pod: dict, path: str) -> str | None:
        meta = pod["metadata"]
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta.get("uid", ""),
                  "spec.nodeName": self.name, "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
                  "status.hostIP": self.address()}
        if path in simple:
            return simple[path]
        if path.startswith("metadata.labels['"):
            return (meta.get("labels") or {}).get(path[len("metadata.labels['"):-2], "")
        return None

    def _env(self, pod: dict, container: dict) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env = {"KUBERNETES_SERVICE_HOST": self.api_host, "KUBERNETES_SERVICE_PORT": "6443",
               "KUBERNETES_PORT": f"tcp://{self.api_host}:6443"}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                env.update({prefix + k: v for k, v in (self._config_map(namespace, source["configMapRef"]["name"]).get("data") or {}).items()})
            elif "secretRef" in source:
                data = self._secret(namespace, source["secretRef"]["name"]).get("data") or {}
                env.update({prefix + k: base64.b64decode(v).decode() for k, v in data.items()})
        for i, item in enumerate(container.get("env") or []):
            if "value" in item or not item.get("valueFrom"):
                env[item["name"]] = item.get("value", "")
                continue
            source = item["valueFrom"]
            if "fieldRef" in source:
                value = self._field(pod, source["fieldRef"]["fieldPath"])
                if value is None:
                    raise Unsupported(f"spec.containers[0].env[{i}].valueFrom.fieldRef", f"{source['fieldRef']['fieldPath']} is not supported")
                env[item["name"]] = value
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[item["name"]] = base64.b64decode((self._secret(namespace, ref["name"]).get("data") or {})[ref["key"]]).decode()
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                env[item["name"]] = (self._config_map(namespace, ref["name"]).get("data") or {})[ref["key"]]
            else:
                raise Unsupported(f"spec.containers[0].env[{i}].valueFrom", f"{', '.join(source)} is not supported")
        return env

    def helper_name(self, pod: dict) -> str:
        return f"{self.container_name(pod)}-volumes"

    def volume_name(self, pod: dict, volume: str) -> str:
        return f"lab-{self.instance}-{pod['metadata']['uid'][:8]}-{volume}"

    def _mounted_volumes(self, pod: dict) -> tuple[dict[str, dict], dict[str, str], dict[str, str]]:
        """(volumes by name that hold files, docker volume -> mount path, emptyDir tmpfs mounts)."""
        spec = pod["spec"]
        container = spec["containers"][0]
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        with_files: dict[str, dict] = {}
        mounts: dict[str, str] = {}
        tmpfs: dict[str, str] = {}
        for i, mount in enumerate(container.get("volumeMounts") or []):
            volume = volumes.get(mount["name"])
            if volume is None:
                raise Unsupported(f"spec.containers[0].volumeMounts[{i}]", f"no volume named {mount['name']}")
            if "emptyDir" in volume:
                tmpfs[mount["mountPath"]] = "rw,mode=1777"
                continue
            if mount["mountPath"] in mounts.values():
                raise Unsupported(f"spec.containers[0].volumeMounts[{i}]", f"{mount['mountPath']} is mounted twice")
            if self.volume_name(pod, volume["name"]) in mounts:
                raise Unsupported(f"spec.containers[0].volumeMounts[{i}]", f"volume {volume['name']} is mounted at two paths")
            with_files[volume["name"]] = volume
            mounts[self.volume_name(pod, volume["name"])] = mount["mountPath"]
        return with_files, mounts, tmpfs

    def _write_volume(self, pod: dict, helper, volume: dict) -> None:
        """The kubelet's atomic writer: the files in a new versioned folder, then `..data` pointed at it; each
        key is a link through `..data`, so a reader never sees half an update."""
        files = self._volume_files(pod, volume)
        uid, name = pod["metadata"]["uid"], volume["name"]
        digest = hashlib.sha256(json.dumps(sorted((k, v.hex(), m) for k, (v, m) in files.items())).encode()).hexdigest()
        keys = tuple(sorted({path.split("/")[0] for path in files}))
        previous = self.volume_state.get((uid, name))
        if previous and previous[0] == digest:
            return
        version = f"..{dt.datetime.now(dt.timezone.utc).strftime('%Y_%m_%d_%H_%M_%S.%f')}"
        owner = self._owner(pod)
        specs = {f"{version}/{path}": FileSpec(content, mode, *owner) for path, (content, mode) in files.items()}
        links = {"..data": version}
        if not previous or previous[1] != keys:
            links.update({key: f"..data/{key}" for key in keys})
        self.engine.put_files(helper, f"/volumes/{name}", specs, links)
        self.volume_state[(uid, name)] = (digest, keys)

    def refresh_volumes(self, pod: dict) -> None:
        """Secret, ConfigMap and downwardAPI volumes follow their sources, as the kubelet's periodic sync does
        (service-account tokens are not renewed: a lab lives far shorter than a token)."""
        uid = pod["metadata"]["uid"]
        if time.monotonic() - self.volume_checked.get(uid, 0) < VOLUME_REFRESH:
            return
        self.volume_checked[uid] = time.monotonic()
        with_files, _mounts, _tmpfs = self._mounted_volumes(pod)
        helper = None
        for volume in with_files.values():
            if any("serviceAccountToken" in source for source in (volume.get("projected") or {}).get("sources") or []):
                continue
            helper = helper or self.engine.container(self.helper_name(pod))
            if helper is not None:
                self._write_volume(pod, helper, volume)

    def _groups(self, pod: dict) -> list[str] | None:
        """fsGroup and supplementalGroups join the container's groups, as the kubelet adds them (the volumes' files
        belong to fsGroup)."""
        context = pod["spec"].get("securityContext") or {}
        groups = ([context["fsGroup"]] if context.get("fsGroup") is not None else []) + list(context.get("supplementalGroups") or [])
        return [str(g) for g in groups] or None

    def _user(self, pod: dict, security: dict) -> str | None:
        """The container's user, refused as the kubelet refuses it when runAsNonRoot cannot hold."""
        container = pod["spec"]["containers"][0]
        user = security.get("runAsUser")
        if security.get("runAsNonRoot"):
            if user is None:
                image_user = (self.engine.client.images.get(container["image"]).attrs.get("Config") or {}).get("User") or ""
                if image_user.split(":")[0] in ("", "0", "root"):
                    raise Refused("container has runAsNonRoot and image will run as root")
                if not image_user.split(":")[0].isdigit():
                    raise Refused(f"container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root")
            elif int(user) == 0:
                raise Refused("container's runAsUser breaks non-root policy")
        if user is None:
            return None
        return f"{user}" + (f":{security['runAsGroup']}" if security.get("runAsGroup") is not None else "")

    def _owner(self, pod: dict) -> tuple[int, int]:
        """Files a pod's volumes hold belong to root, group fsGroup when set (as the kubelet does)."""
        group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
        return 0, int(group) if group is not None else 0
