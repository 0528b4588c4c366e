"""What the inject-mtls lab's pod and Cilium agent answer to the runtime's exec when the lab works (kind's nodes
cannot run here): curl through haproxy and Envoy, openssl s_client, hubble observe. The texts are what the real
tools print, as the integration tests show for curl, openssl and Envoy."""

from __future__ import annotations

import json

HAPROXY = "172.18.255.249"
STATUS_MARK = "\n__lab_http_status__:"


def answer(argv: list[str]) -> tuple[int, str, str]:
    if argv[0] == "curl":
        if argv[-1] == f"http://{HAPROXY}:8443/":  # the impostor, refused by Cilium's Envoy
            body = ("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure; upstream TLS: "
                    "TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end\n")
            return 0, body + STATUS_MARK + "503", ""
        if "--cert" in argv or argv[-1].startswith("http://"):
            body = json.dumps({"headers": {"x-ssl-client-cn": "mtls-inject-client", "x-ssl-client-verify": "0"}})
            return 0, body + STATUS_MARK + "200", ""
        return 56, STATUS_MARK + "000", "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0"
    if argv[0] == "sh":  # openssl s_client
        return 0, ("Certificate chain\n 0 s:C = AU, ST = New South Wales, O = Lab, CN = haproxy.mtls-inject.lab\n"
                   "   i:C = AU, ST = New South Wales, O = Lab, CN = Lab Intermediate CA\nVerify return code: 0 (ok)\n"), ""
    if argv[0] == "hubble":
        flow = {"flow": {"verdict": "REDIRECTED", "Type": "L3_L4", "trace_observation_point": "TO_PROXY"}}
        return 0, json.dumps(flow) + "\n", ""
    return 0, "ok", ""
