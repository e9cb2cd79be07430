"""The tshark oracle: what Wireshark's own dissectors find in a pcap, in the shape twin's
exchanges can be compared with exactly.

For each TCP connection to one of the server ports, tshark gives the ordered HTTP/1 requests and
responses and the HTTP/2 HEADERS frames by stream id. They are turned into a list of entries

    (stream, protocol, method, target, status)

  - HTTP/1: stream 0, one entry per request in order, paired with the responses in order
    (interim 1xx responses are left out; 101 is the h2c upgrade, below); status None when the
    request got no response;
  - HTTP/2: one entry per stream that carried a request, sorted by stream id; status from the
    first final (non-1xx) :status HEADERS of the server on that stream, None if none;
  - h2c upgrade: the HTTP/1.1 request answered by "101 Switching Protocols" becomes stream 1's
    request (protocol "h2"), its response is HTTP/2 stream 1's; the 101 itself is not an entry.

Connections are keyed by (client "ip:port", n): n counts earlier connections from the same client
address and port in the same pcap (a reused port), so the key does not depend on how either side
numbers connections. twin's exchanges (`twin cat --format jsonl`) map to the same shape with
`from_twin`, and `compare` gives a readable diff (counts, keys, entries; never bodies).

Run as a script to print the oracle's view of a pcap:
    python3 oracle.py PCAP --http PORT ... --h2 PORT ...
"""

import argparse
import collections
import json
import subprocess
import sys
import tempfile

# Preferences that make tshark reassemble everything it can: TCP streams (also out of order),
# HTTP headers and bodies (de-chunked), HTTP/2 header blocks.
TSHARK_PREFS = [
    "tcp.desegment_tcp_streams:TRUE",
    "tcp.reassemble_out_of_order:TRUE",
    "tcp.analyze_sequence_numbers:TRUE",
    "tcp.check_checksum:FALSE",  # loopback captures carry unfilled (offloaded) checksums
    "http.desegment_headers:TRUE",
    "http.desegment_body:TRUE",
    "http.dechunk_body:TRUE",
    "http.decompress_body:FALSE",  # bodies are not compared: no need to inflate them
]

# Packets that hold an HTTP/1 message or an HTTP/2 header block (HEADERS or CONTINUATION).
DISPLAY_FILTER = "http.request or http.response or http2.type == 1 or http2.type == 9"

Entry = collections.namedtuple("Entry", "stream protocol method target status")


class OracleError(RuntimeError):
    pass


def _tshark_base(pcap, http_ports, h2_ports):
    args = ["tshark", "-n", "-r", pcap]
    for p in http_ports:
        args += ["-d", f"tcp.port=={p},http"]
    for p in h2_ports:
        args += ["-d", f"tcp.port=={p},http2"]
    for pref in TSHARK_PREFS:
        args += ["-o", pref]
    args += ["-Y", DISPLAY_FILTER]
    return args


def _as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _first(d, key):
    v = d.get(key)
    if isinstance(v, list):
        return v[0] if v else None
    return v


def run_tshark(pcap, http_ports=(), h2_ports=(), timeout=300):
    """Runs the two tshark passes in parallel: addresses by frame (fields) and the HTTP layers by
    frame (EK, one JSON document a line; the TCP layer is left out of it because its payload
    hex dominates the output). Returns (addresses {frame: (...)} , [(frame, layers)])."""
    base = _tshark_base(pcap, http_ports, h2_ports)
    fields = base + ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
                     "-e", "frame.number", "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src",
                     "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport"]
    ek = base + ["-T", "ek", "-J", "frame http http2"]
    p1 = subprocess.Popen(fields, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_file = tempfile.TemporaryFile()  # not a pipe: nobody reads it while stdout streams
    p2 = subprocess.Popen(ek, stdout=subprocess.PIPE, stderr=err_file)
    try:
        out1, err1 = p1.communicate(timeout=timeout)
        frames = []
        # EK output can be large (bodies as hex): parse it line by line.
        for line in p2.stdout:
            if not line.startswith(b'{"timestamp"'):
                continue
            doc = json.loads(line)
            layers = doc.get("layers", {})
            num = int(_first(layers.get("frame", {}), "frame_frame_number"))
            frames.append((num, layers))
        p2.wait(timeout=timeout)
        err_file.seek(0)
        err2 = err_file.read()
    finally:
        for p in (p1, p2):
            if p.poll() is None:
                p.kill()
                p.wait()
        err_file.close()
    for p, err in ((p1, err1), (p2, err2)):
        if p.returncode != 0:
            raise OracleError(f"tshark exited {p.returncode}: {err.decode(errors='replace')[-2000:]}")
    addresses = {}
    for line in out1.decode().splitlines():
        f = line.split("\t")
        if len(f) < 8 or not f[0] or not f[1]:
            continue
        src = f[2] or f[3]
        dst = f[5] or f[6]
        addresses[int(f[0])] = (int(f[1]), src, int(f[4]), dst, int(f[7]))
    return addresses, frames


def _endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _Conn:
    def __init__(self, client, order):
        self.client = client
        self.order = order
        self.requests = []   # (method, uri, version)
        self.responses = []  # status (ints), 1xx left out but 101 kept
        self.h2 = {}         # stream -> {"method","path","status"}


def extract(pcap, http_ports=(), h2_ports=(), timeout=300):
    """The oracle's view of `pcap`: {(client, n): [Entry, ...]} for connections to the ports."""
    server_ports = set(int(p) for p in list(http_ports) + list(h2_ports))
    addresses, frames = run_tshark(pcap, http_ports, h2_ports, timeout)
    conns = {}  # tcp.stream -> _Conn
    for num, layers in frames:
        addr = addresses.get(num)
        if addr is None:
            continue
        stream, src, sport, dst, dport = addr
        if dport in server_ports:
            from_client, client = True, _endpoint(src, sport)
        elif sport in server_ports:
            from_client, client = False, _endpoint(dst, dport)
        else:
            continue
        conn = conns.get(stream)
        if conn is None:
            conn = conns[stream] = _Conn(client, stream)
        for http in _as_list(layers.get("http")):
            method = _first(http, "http_http_request_method")
            code = _first(http, "http_http_response_code")
            if from_client and method is not None:
                conn.requests.append((method, _first(http, "http_http_request_uri"),
                                      _first(http, "http_http_request_version")))
            elif not from_client and code is not None:
                status = int(code)
                if status == 101 or not 100 <= status < 200:
                    conn.responses.append(status)
        for frame in _as_list(layers.get("http2")):
            ftype = _first(frame, "http2_http2_type")
            if ftype not in ("1", "9"):
                continue
            sid = int(_first(frame, "http2_http2_streamid"))
            s = conn.h2.setdefault(sid, {"method": None, "path": None, "status": None})
            method = _first(frame, "http2_http2_headers_method")
            path = _first(frame, "http2_http2_headers_path")
            status = _first(frame, "http2_http2_headers_status")
            if from_client and method is not None and s["method"] is None:
                s["method"], s["path"] = method, path
            if not from_client and status is not None and s["status"] is None:
                st = int(status)
                if not 100 <= st < 200:
                    s["status"] = st

    result = {}
    seen = collections.Counter()
    for stream in sorted(conns):
        conn = conns[stream]
        entries = []
        upgraded = None
        for i, (method, uri, version) in enumerate(conn.requests):
            status = conn.responses[i] if i < len(conn.responses) else None
            if status == 101:
                upgraded = (method, uri)
                break
            proto = (version or "").lower() if version else "http/1.1"
            entries.append(Entry(0, proto, method, uri, status))
        for sid in sorted(conn.h2):
            s = conn.h2[sid]
            method, path = s["method"], s["path"]
            if sid == 1 and upgraded is not None and method is None:
                method, path = upgraded
            if method is None:
                continue  # a stream without a request (PRIORITY anchors, trailers, push)
            entries.append(Entry(sid, "h2", method, path, s["status"]))
        if upgraded is not None and 1 not in conn.h2:
            # The upgrade was answered (101) but no HTTP/2 frame of stream 1 was seen.
            entries.append(Entry(1, "h2", upgraded[0], upgraded[1], None))
        if not entries:
            continue
        key = (conn.client, seen[conn.client])
        seen[conn.client] += 1
        result[key] = entries
    return result


def from_twin(exchanges):
    """twin's exchanges (JSONL objects) in the oracle's shape: {(client, n): [Entry, ...]}.
    Sessions are ordered by number; within a session HTTP/1 exchanges by seq, then HTTP/2 ones
    by stream id."""
    sessions = collections.defaultdict(list)
    for e in exchanges:
        sessions[e["session"]].append(e)
    result = {}
    seen = collections.Counter()
    for sid in sorted(sessions):
        xs = sessions[sid]
        h1 = sorted((e for e in xs if e.get("protocol") != "h2"), key=lambda e: e["seq"])
        h2 = sorted((e for e in xs if e.get("protocol") == "h2"), key=lambda e: e["stream"])
        entries = []
        for e in h1 + h2:
            req = e.get("request") or {}
            resp = e.get("response")
            entries.append(Entry(e.get("stream", 0) if e.get("protocol") == "h2" else 0,
                                 e.get("protocol"), _text(req.get("method")),
                                 _text(req.get("target")), resp["status"] if resp else None))
        client = xs[0].get("client") or f"session {sid}"
        key = (client, seen[client])
        seen[client] += 1
        result[key] = entries
    return result


def _text(v):
    if isinstance(v, dict) and "base64" in v:
        return "base64:" + v["base64"]
    return v


def total(view):
    return sum(len(v) for v in view.values())


def compare(expected, actual, expected_name="tshark", actual_name="twin", limit=20):
    """'' when the two views are equal, else a readable diff (no bodies)."""
    lines = []
    if expected == actual:
        return ""
    lines.append(f"{expected_name}: {len(expected)} connections, {total(expected)} exchanges; "
                 f"{actual_name}: {len(actual)} connections, {total(actual)} exchanges")
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    for k in missing[:limit]:
        lines.append(f"  connection {k[0]}#{k[1]}: only in {expected_name} "
                     f"({len(expected[k])} exchanges, first {tuple(expected[k][0])})")
    for k in extra[:limit]:
        lines.append(f"  connection {k[0]}#{k[1]}: only in {actual_name} "
                     f"({len(actual[k])} exchanges, first {tuple(actual[k][0])})")
    shown = 0
    for k in sorted(set(expected) & set(actual)):
        a, b = expected[k], actual[k]
        if a == b:
            continue
        shown += 1
        if shown > limit:
            lines.append("  ...")
            break
        lines.append(f"  connection {k[0]}#{k[1]}: {expected_name} {len(a)} exchanges, "
                     f"{actual_name} {len(b)}")
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            if x != y:
                lines.append(f"    [{i}] {expected_name} {tuple(x) if x else None}")
                lines.append(f"    [{i}] {actual_name:<{len(expected_name)}} "
                             f"{tuple(y) if y else None}")
                break
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("--http", type=int, action="append", default=[], help="HTTP/1 (and h2c "
                    "upgrade) server port")
    ap.add_argument("--h2", type=int, action="append", default=[], help="h2c prior-knowledge port")
    ap.add_argument("--twin", help="a twin archive or JSONL to compare with (via TWIN_BIN cat)")
    args = ap.parse_args(argv)
    view = extract(args.pcap, args.http, args.h2)
    for (client, n), entries in view.items():
        print(f"{client}#{n}: {len(entries)}")
        for e in entries:
            print(f"  {e.stream:>5} {e.protocol:<8} {e.method} {e.target} {e.status}")
    print(f"total: {len(view)} connections, {total(view)} exchanges")
    if args.twin:
        import harness
        diff = compare(view, from_twin(harness.cat_jsonl(args.twin)))
        print(diff or "twin == tshark")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
