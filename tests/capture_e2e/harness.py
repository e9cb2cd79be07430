"""Harness for twin capture's end-to-end tests: free ports, temporary directories, processes that
are always stopped, nginx and nghttpd on loopback, tcpdump recordings and twin itself.

Python 3 standard library only. Every process started here is registered and killed at exit (or
when its `with` block ends), so a failing test never leaves a server or a recorder behind.
"""

import atexit
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Files the servers serve, by name: sizes in bytes. Contents are deterministic (seeded), so a
# stored body can be compared with the file on disk.
FILE_SIZES = {
    "empty.bin": 0,
    "1k.bin": 1024,
    "10k.bin": 10 * 1024,
    "100k.bin": 100 * 1024,
    "300k.bin": 300 * 1024,
    "2m.bin": 2 * 1024 * 1024,
}
# A compressible text file: nginx gzips it on the fly and so sends it chunked.
TEXT_FILE = "text.txt"
TEXT_SIZE = 200 * 1024

_live = []  # processes to kill at exit


def _kill_all():
    for p in list(_live):
        p.kill()


atexit.register(_kill_all)


def log(*args):
    if os.environ.get("TWIN_E2E_VERBOSE"):
        print("[harness]", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# small helpers


_rng = random.Random()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port):
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        except OSError as e:
            if family == socket.AF_INET6 and e.errno == 99:  # no ::1 on this machine
                continue
            return False
    return True


def free_port():
    """A TCP port free a moment ago on 127.0.0.1 (and ::1), chosen below the kernel's ephemeral
    range: a server port never equals a client's port of this or an earlier test, whose late
    packets would then match the recorder's "tcp port P" filter."""
    lo, _ = _ephemeral_range()
    if lo > 12000:
        for _ in range(200):
            port = _rng.randrange(10000, lo)
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until something accepts connections on host:port; raises on timeout or if `proc`
    exits first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.returncode}) before listening on "
                               f"{host}:{port}: {proc.stderr_text()[-2000:]}")
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_root():
    return os.geteuid() == 0


def have(tool):
    return shutil.which(tool) is not None


def deterministic_bytes(n, seed):
    """n pseudo-random bytes, the same for the same seed (blake2 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.blake2b(f"{seed}:{counter}".encode(), digest_size=64).digest()
        counter += 1
    return bytes(out[:n])


def compressible_text(n):
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
             "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")
    out = []
    size = 0
    i = 0
    while size < n:
        line = f"{i:08d} " + " ".join(words[(i * 7 + k) % len(words)] for k in range(9)) + "\n"
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out).encode()[:n]


class TempDir:
    """A temporary directory removed at exit unless TWIN_E2E_KEEP is set (then printed)."""

    def __init__(self, prefix="twin-capture-e2e-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        atexit.register(self.cleanup)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        if os.environ.get("TWIN_E2E_KEEP"):
            print(f"[harness] kept {self.path}", file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# processes


class Proc:
    """A started process whose stdout and stderr go to files; stopped (then killed) on stop(),
    on leaving a `with` block and at exit."""

    def __init__(self, args, name=None, workdir=None, env=None, stdin=None):
        self.args = [str(a) for a in args]
        self.name = name or os.path.basename(self.args[0])
        self.dir = workdir or tempfile.mkdtemp(prefix=f"proc-{self.name}-")
        self.out_path = os.path.join(self.dir, f"{self.name}.{id(self)}.out")
        self.err_path = os.path.join(self.dir, f"{self.name}.{id(self)}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        log("start", " ".join(self.args))
        self.popen = subprocess.Popen(self.args, stdout=self._out, stderr=self._err,
                                      stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                      env=env, start_new_session=True)
        self.returncode = None
        _live.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def poll(self):
        self.returncode = self.popen.poll()
        return self.returncode

    def wait(self, timeout):
        try:
            self.returncode = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"{self.name} did not finish within {timeout} s: "
                               f"{' '.join(self.args)}")
        self._close()
        return self.returncode

    def send_signal(self, sig):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends `sig`, waits up to `timeout` s, then kills. Returns the exit code."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
                self.returncode = self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored signal {sig}; killing")
                self.kill()
        self.returncode = self.popen.poll()
        self._close()
        return self.returncode

    def kill(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.returncode = self.popen.poll()
        self._close()

    def _close(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        if self in _live and self.popen.poll() is not None:
            _live.remove(self)

    def stdout_text(self):
        if not self._out.closed:
            self._out.flush()
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr_text(self):
        if not self._err.closed:
            self._err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_stderr(self, pattern, timeout=10.0):
        """Waits until `pattern` (a regex) appears on the process's stderr; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(self.stderr_text())
            if m:
                return m
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}) before printing "
                                   f"{pattern!r}: {self.stderr_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not print {pattern!r} within {timeout} s: "
                           f"{self.stderr_text()[-2000:]}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run(args, timeout=60, check=True, input=None, env=None):
    """Runs a command to completion; returns CompletedProcess with text stdout/stderr."""
    args = [str(a) for a in args]
    log("run", " ".join(args))
    try:
        r = subprocess.run(args, capture_output=True, timeout=timeout, input=input, env=env,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise TimeoutError(f"{args[0]} did not finish within {timeout} s: {' '.join(args)}") from e
    r.stdout_text = r.stdout.decode(errors="replace")
    r.stderr_text = r.stderr.decode(errors="replace")
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}:\n{r.stderr_text[-3000:]}")
    return r


# ---------------------------------------------------------------------------------------------
# content


def make_docroot(path):
    """Writes the files the servers serve into `path`; returns {name: sha256}."""
    os.makedirs(path, exist_ok=True)
    sums = {}
    for name, size in FILE_SIZES.items():
        data = deterministic_bytes(size, name)
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    text = compressible_text(TEXT_SIZE)
    with open(os.path.join(path, TEXT_FILE), "wb") as f:
        f.write(text)
    sums[TEXT_FILE] = hashlib.sha256(text).hexdigest()
    with open(os.path.join(path, "index.html"), "wb") as f:
        f.write(b"<html><body>twin capture e2e</body></html>\n")
    return sums


# ---------------------------------------------------------------------------------------------
# servers

NGINX_CONF = """\
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{ text/plain txt; text/html html; application/octet-stream bin; text/xml xml;
             application/soap+xml soap; application/x-thrift thrift;
             application/vnd.apache.thrift.compact tcompact; application/x-ndjson ndjson;
             text/event-stream sse; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    client_max_body_size 64m;
    # text.txt is gzipped on the fly (so sent chunked) when the client accepts gzip.
    gzip on;
    gzip_min_length 0;
    gzip_types text/plain;
    gzip_http_version 1.0;
    server {{
        listen 127.0.0.1:{http_port};
        {ipv6_listen}
        root {docroot};
        location = /upload {{ return 200 "uploaded\\n"; }}
        location = /echo-ok {{ return 200 "ok\\n"; }}
        location /put/ {{ dav_methods PUT; create_full_put_path on; }}
    }}
    server {{
        listen 127.0.0.1:{h2_port} http2;
        root {docroot};
        location = /upload {{ return 200 "uploaded\\n"; }}
        location = /echo-ok {{ return 200 "ok\\n"; }}
        location /put/ {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
"""


class Nginx:
    """nginx in the foreground with an HTTP/1.x listener (`http_port`) and an h2c prior-knowledge
    listener (`h2_port`) on 127.0.0.1, serving `docroot` (make_docroot) plus /upload and /echo-ok
    (fixed 200 answers that accept any method and discard the body) and /put/ (WebDAV PUT, which
    reads the whole body: 201 Created). `ipv6=True` also listens on [::1]."""

    def __init__(self, workdir, docroot, ipv6=False):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.docroot = docroot
        self.http_port = free_port()
        self.h2_port = free_port()
        while self.h2_port == self.http_port:
            self.h2_port = free_port()
        self.ipv6 = ipv6
        conf = NGINX_CONF.format(
            user="user root;" if is_root() else "",
            dir=self.dir, docroot=docroot, http_port=self.http_port, h2_port=self.h2_port,
            ipv6_listen=f"listen [::1]:{self.http_port};" if ipv6 else "")
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        self.proc = Proc(["nginx", "-p", self.dir, "-c", self.conf, "-e", self.dir + "/error.log",
                          "-g", "daemon off;"], name="nginx", workdir=self.dir)
        wait_port(self.http_port, proc=self.proc)
        wait_port(self.h2_port, proc=self.proc)
        return self

    def url(self, path, h2=False, host="127.0.0.1"):
        return f"http://{host}:{self.h2_port if h2 else self.http_port}{path}"

    def stop(self):
        if self.proc:
            # QUIT: graceful; the master waits for its worker.
            self.proc.stop(signal.SIGQUIT, timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Nghttpd:
    """nghttpd --no-tls on 127.0.0.1: HTTP/2 by prior knowledge and by h2c upgrade."""

    def __init__(self, workdir, docroot):
        self.dir = os.path.join(workdir, "nghttpd")
        os.makedirs(self.dir, exist_ok=True)
        self.docroot = docroot
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = Proc(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", self.docroot,
                          str(self.port)], name="nghttpd", workdir=self.dir)
        wait_port(self.port, proc=self.proc)
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGTERM, timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Nghttpx:
    """nghttpx (nghttp2-proxy) in front of an HTTP/1.1 backend, with a cleartext frontend on
    127.0.0.1 that accepts HTTP/1.1, h2c by prior knowledge and h2c by HTTP/1.1 Upgrade (which
    nghttpd does not: it sends its SETTINGS first and so refuses an upgrade)."""

    def __init__(self, workdir, backend_port):
        self.dir = os.path.join(workdir, "nghttpx")
        os.makedirs(self.dir, exist_ok=True)
        self.backend_port = backend_port
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = Proc(["nghttpx", "--conf=/dev/null", f"--frontend=127.0.0.1,{self.port};no-tls",
                          f"--backend=127.0.0.1,{self.backend_port}", "--workers=1",
                          f"--errorlog-file={self.dir}/error.log",
                          f"--accesslog-file={self.dir}/access.log",
                          f"--pid-file={self.dir}/nghttpx.pid"], name="nghttpx", workdir=self.dir)
        wait_port(self.port, proc=self.proc)
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGTERM, timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# recording


def tcp_table():
    """The TCP sockets of this network namespace (/proc/net/tcp and tcp6), as tuples (local
    port, remote port, state as the kernel's two hex digits, bytes in the send queue)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 5:
                continue
            rows.append((int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16),
                         cols[3], int(cols[4].split(":")[0], 16)))
    return rows


class Recorder:
    """tcpdump on lo writing `path`, for the given server ports. Use as a context manager around
    the clients: it starts before them (waiting for tcpdump's 'listening on') and stops after
    them, once the file provably holds every packet (below), with SIGINT, waiting for tcpdump to
    exit so that the file is complete.

    Not --immediate-mode: that makes libpcap use TPACKET_V2, whose ring holds fixed frames of the
    snap length (256 KiB each: a few hundred packets in 64 MiB), and it drops packets under ab.
    TPACKET_V3 packs packets into blocks that the kernel hands over when full or after a timeout
    (1 s), and tcpdump loses a block still in the ring when it is stopped. So stop() first waits
    until no connection on the ports has unsent data (a client may exit with bytes still in its
    send buffer), then sends a sentinel (a connection attempt to a closed port that the filter
    also matches: SYN and RST), waits until tcpdump has written it to the file (every earlier
    packet is then written too), stops tcpdump, and removes the sentinel's packets from the
    file."""

    def __init__(self, path, ports, iface="lo", extra_filter=None, buffer_kib=65536):
        self.path = path
        self.ports = list(ports)
        self.sentinel = free_port()
        while self.sentinel in self.ports:
            self.sentinel = free_port()
        expr = " or ".join(f"tcp port {p}" for p in self.ports)
        if extra_filter:
            expr = f"({expr}) and ({extra_filter})"
        expr = f"({expr}) or (tcp port {self.sentinel})"
        self.args = ["tcpdump", "-i", iface, "-w", path, "-s", "0", "-U",
                     "-B", str(buffer_kib), "-n", expr]
        self.proc = None
        self.kernel_drops = None
        self.captured = None
        self._scan_off = None
        self._scan_hdr = None
        self._sentinel_offs = []

    def start(self):
        self.proc = Proc(self.args, name="tcpdump", workdir=os.path.dirname(self.path))
        self.proc.wait_stderr(r"listening on", timeout=15)
        return self

    def _is_sentinel(self, data):
        import pcapmut
        p = pcapmut.Pcap(self._scan_hdr[0], endian=self._scan_hdr[1],
                         packets=[pcapmut.Packet(0, 0, len(data), data)])
        seg = pcapmut.decode(p, 0)
        return seg is not None and self.sentinel in (seg.sport, seg.dport)

    def _scan(self):
        """Reads the records written since the last call; notes the sentinel's offsets."""
        import struct
        try:
            with open(self.path, "rb") as f:
                if self._scan_hdr is None:
                    head = f.read(24)
                    if len(head) < 24:
                        return
                    endian = "<" if struct.unpack("<I", head[:4])[0] in (0xA1B2C3D4,
                                                                          0xA1B23C4D) else ">"
                    self._scan_hdr = (struct.unpack(endian + "I", head[20:24])[0] & 0x0FFFFFFF,
                                      endian)
                    self._scan_off = 24
                f.seek(self._scan_off)
                data = f.read()
        except FileNotFoundError:
            return
        off = 0
        while off + 16 <= len(data):
            caplen = struct.unpack_from(self._scan_hdr[1] + "I", data, off + 8)[0]
            if off + 16 + caplen > len(data):
                break
            if self._is_sentinel(data[off + 16:off + 16 + caplen]):
                self._sentinel_offs.append(self._scan_off + off)
            off += 16 + caplen
        self._scan_off += off

    def _strip_sentinel(self):
        """Removes the sentinel's packets (all at the end of the file, but for rare late
        packets of the servers, which are kept)."""
        import pcapmut
        if not self._sentinel_offs:
            return
        first = self._sentinel_offs[0]
        with open(self.path, "rb") as f:
            head = f.read(24)
            f.seek(first)
            tail = f.read()
        kept = []
        tail_pcap = pcapmut.Pcap.parse(head + tail)
        for i, pkt in enumerate(tail_pcap.packets):
            seg = pcapmut.decode(tail_pcap, i)
            if seg is None or self.sentinel not in (seg.sport, seg.dport):
                kept.append(pkt)
            elif self.captured:
                self.captured -= 1
        tail_pcap.packets = kept
        with open(self.path, "r+b") as f:
            f.truncate(first)
            f.seek(first)
            f.write(tail_pcap.to_bytes()[24:])

    def _unsent(self):
        """Sockets on the recorded ports whose data or FIN has not all left yet: a client that
        exited with bytes still in its send buffer (curl uploading to a server that discards the
        body slowly) has them sent after it is gone."""
        busy = 0
        for lport, rport, state, tx in tcp_table():
            if lport not in self.ports and rport not in self.ports:
                continue
            # FIN_WAIT1, CLOSING, LAST_ACK: a FIN not yet acknowledged
            if tx > 0 or state in ("04", "0B", "09"):
                busy += 1
        return busy

    def stop(self, timeout=20.0):
        # What the clients wrote but the kernel has not sent yet belongs in the recording.
        deadline = time.monotonic() + 10.0
        while (busy := self._unsent()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if busy:
            log(f"{busy} connections still had unsent data when the recording stopped")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.connect(("127.0.0.1", self.sentinel))  # refused: SYN, RST
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            self._scan()
            if len(self._sentinel_offs) >= 2:
                break
            time.sleep(0.1)
        else:
            log("tcpdump did not write the sentinel in time; the recording may miss its end")
        self.proc.stop(signal.SIGINT, timeout=20)
        err = self.proc.stderr_text()
        m = re.search(r"(\d+) packets? captured", err)
        self.captured = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped by kernel", err)
        self.kernel_drops = int(m.group(1)) if m else None
        self._scan()
        self._strip_sentinel()
        log(f"tcpdump: {self.captured} captured, {self.kernel_drops} dropped by kernel")
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# clients

WRK_SCRIPT = os.path.join(HERE, "wrk_limit.lua")


def curl(urls, *options, timeout=60):
    """One curl process for all `urls` (so HTTP/1.1 keep-alive reuses one connection); each
    body is discarded. Returns the "%{http_code}" of each transfer, as ints."""
    args = ["curl", "-sS", "--max-time", str(timeout), "-w", "%{http_code}\\n"] + list(options)
    for u in urls:
        args += ["-o", "/dev/null", u]
    r = run(args, timeout=timeout + 10)
    return [int(x) for x in r.stdout_text.split()]


def ab(url, n, c, keepalive=True, timeout=120):
    """ApacheBench; returns {"complete", "failed", "non2xx"} from its report."""
    args = ["ab", "-q", "-n", str(n), "-c", str(c)] + (["-k"] if keepalive else []) + [url]
    r = run(args, timeout=timeout)
    out = r.stdout_text
    return {
        "complete": int(re.search(r"Complete requests:\s+(\d+)", out).group(1)),
        "failed": int(re.search(r"Failed requests:\s+(\d+)", out).group(1)),
        "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx responses:\s+(\d+)", out)) else 0,
        "output": out,
    }


def h2load(urls, n, c, m, timeout=120):
    """h2load (h2c by prior knowledge); returns {"done", "succeeded", "failed", "errored"}."""
    r = run(["h2load", "-n", str(n), "-c", str(c), "-m", str(m)] + list(urls), timeout=timeout)
    mm = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                   r"(\d+) failed, (\d+) errored", r.stdout_text)
    return {"total": int(mm.group(1)), "done": int(mm.group(3)), "succeeded": int(mm.group(4)),
            "failed": int(mm.group(5)), "errored": int(mm.group(6)), "output": r.stdout_text}


def wrk(url, threads, connections, duration, limit=None, pipeline=1, paths=None, timeout=120):
    """wrk with wrk_limit.lua: each thread stops after limit/threads responses, requests cycle
    through `paths`, `pipeline` requests are sent back to back. Returns {"requests", "non2xx"}."""
    env = dict(os.environ)
    env["WRK_LIMIT"] = str(max(1, (limit or 10**9) // threads))
    env["WRK_PIPELINE"] = str(pipeline)
    if paths:
        env["WRK_PATHS"] = ",".join(paths)
    r = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
             "-s", WRK_SCRIPT, url], timeout=timeout, env=env)
    out = r.stdout_text
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out))
        else 0,
        "output": out,
    }


# ---------------------------------------------------------------------------------------------
# twin


def twin_bin():
    """The twin binary: $TWIN_BIN (set by CMake), else the newer of build/ and build-bench/."""
    b = os.environ.get("TWIN_BIN")
    if b:
        return b
    found = [p for p in (os.path.join(REPO, d, "bin", "twin") for d in ("build", "build-bench"))
             if os.path.exists(p)]
    if not found:
        raise RuntimeError("TWIN_BIN is not set and no build/bin/twin exists")
    return max(found, key=os.path.getmtime)  # the newest build


class CaptureRun:
    """The outcome of one `twin capture`: exit code, stderr, and (lazily) the exchanges and
    counters of its archive."""

    def __init__(self, args, out, result):
        self.args = args
        self.out = out
        self.returncode = result.returncode
        self.stderr = result.stderr_text
        self.stdout = result.stdout_text
        self._exchanges = None
        self._info = None

    def check(self):
        if self.returncode != 0:
            raise AssertionError(f"twin capture exited {self.returncode}: "
                                 f"{' '.join(self.args)}\n{self.stderr[-3000:]}")
        return self

    @property
    def exchanges(self):
        if self._exchanges is None:
            self._exchanges = cat_jsonl(self.out)
        return self._exchanges

    @property
    def info(self):
        if self._info is None:
            self._info = info_json(self.out)
        return self._info

    @property
    def counters(self):
        return capture_counters(self.info)


def capture_file(pcap, out, ports=(), extra=(), timeout=120, stdin_data=None):
    """twin capture -r PCAP -o OUT --port P... EXTRA. With stdin_data, reads '-' from stdin."""
    args = [twin_bin(), "capture", "-r", "-" if stdin_data is not None else pcap, "-o", out]
    for p in ports:
        args += ["--port", str(p)]
    args += list(extra)
    r = run(args, timeout=timeout, check=False, input=stdin_data)
    return CaptureRun(args, out, r)


def cat_jsonl(archive, timeout=120):
    r = run([twin_bin(), "cat", "--format", "jsonl", archive], timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"twin cat {archive} exited {r.returncode}: {r.stderr_text[-2000:]}")
    return [json.loads(line) for line in r.stdout_text.splitlines() if line.strip()]


def info_json(archive, timeout=120):
    r = run([twin_bin(), "info", "--json", archive], timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"twin info {archive} exited {r.returncode}: {r.stderr_text[-2000:]}")
    return json.loads(r.stdout_text)


def capture_counters(info):
    meta = info.get("metadata") or {}
    c = meta.get("capture")
    if not isinstance(c, dict):
        raise AssertionError(f"archive metadata has no 'capture' counters: keys {sorted(meta)}")
    return c


def twin_has_capture():
    """(True, '') when `twin capture --help` works, else (False, why)."""
    try:
        r = run([twin_bin(), "capture", "--help"], timeout=20, check=False)
    except Exception as e:  # noqa: BLE001 - reported as the reason
        return False, str(e)
    if r.returncode != 0:
        return False, (r.stderr_text or r.stdout_text).strip()[-500:]
    return True, ""


# ---------------------------------------------------------------------------------------------
# exchanges


def body_bytes(message):
    """The body of a JSONL request/response as bytes (FORMAT.md: utf8 text or base64)."""
    import base64
    if message is None:
        return None
    body = message.get("body") or ""
    if message.get("body_encoding", "utf8") == "base64":
        return base64.b64decode(body)
    return body.encode("utf-8")


def header(message, name):
    """The first value of header `name` (case-insensitive) in a JSONL message, or None."""
    for h in message.get("headers") or []:
        if len(h) == 3 and h[2] == "base64":
            continue
        if h[0].lower() == name.lower():
            return h[1]
    return None


def client_port(exchange):
    c = exchange.get("client") or ""
    return int(c.rsplit(":", 1)[1]) if ":" in c else None
