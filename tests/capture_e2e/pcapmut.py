"""pcapmut: a pure-Python pcap reader/writer and mutator for capture tests.

Reads classic pcap (either byte order, microsecond or nanosecond magic), decodes Ethernet (with
802.1Q tags), BSD loopback (NULL), Linux cooked v1/v2 and raw IP down to IPv4/IPv6 and TCP, and
writes mutated copies:

  reorder     swap adjacent data segments of one direction of a connection
  duplicate   insert exact copies of data segments (retransmissions)
  overlap     insert a segment covering the tail of one segment and the head of the next
  drop        remove data segments, each leaving one hole that a later segment bounds
  truncate    cut the file at a byte offset
  bad magic / link type / record: corrupt the file header, set an unsupported link type, give a
              record an impossible length
  re-encapsulate  Ethernet -> Linux cooked v1 / v2, raw IP, BSD loopback, 802.1Q; byte order;
                  nanosecond timestamps (pcapng: `editcap -F pcapng`, see to_pcapng)

Segments are picked with a seeded random.Random, so a test's mutation is reproducible.
Run as a script: python3 pcapmut.py IN OUT --reorder 3 --duplicate 3 --seed 1 (see --help).
"""

import argparse
import random
import shutil
import struct
import subprocess
import sys

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_USER0 = 147  # "private use": no capture tool decodes it

TCP_FIN, TCP_SYN, TCP_RST = 0x01, 0x02, 0x04


class PcapError(ValueError):
    pass


class Packet:
    __slots__ = ("ts_sec", "ts_frac", "orig_len", "data")

    def __init__(self, ts_sec, ts_frac, orig_len, data):
        self.ts_sec, self.ts_frac, self.orig_len, self.data = ts_sec, ts_frac, orig_len, data

    def copy(self, data=None):
        d = self.data if data is None else data
        grow = len(d) - len(self.data)
        return Packet(self.ts_sec, self.ts_frac, self.orig_len + grow, d)


class Pcap:
    def __init__(self, linktype=LINKTYPE_ETHERNET, snaplen=262144, nanos=False, endian="<",
                 packets=None, version=(2, 4)):
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanos = nanos
        self.endian = endian
        self.version = version
        self.packets = packets if packets is not None else []

    @classmethod
    def read(cls, path):
        with open(path, "rb") as f:
            buf = f.read()
        return cls.parse(buf)

    @classmethod
    def parse(cls, buf):
        if len(buf) < 24:
            raise PcapError("file shorter than a pcap header")
        magic_le = struct.unpack("<I", buf[:4])[0]
        magic_be = struct.unpack(">I", buf[:4])[0]
        if magic_le in (MAGIC_US, MAGIC_NS):
            endian, magic = "<", magic_le
        elif magic_be in (MAGIC_US, MAGIC_NS):
            endian, magic = ">", magic_be
        else:
            raise PcapError(f"not a classic pcap (magic {buf[:4].hex()})")
        vmaj, vmin, _, _, snaplen, linktype = struct.unpack(endian + "HHiIII", buf[4:24])
        p = cls(linktype & 0x0FFFFFFF, snaplen, magic == MAGIC_NS, endian, version=(vmaj, vmin))
        off = 24
        hdr = struct.Struct(endian + "IIII")
        while off < len(buf):
            if off + 16 > len(buf):
                raise PcapError(f"truncated record header at offset {off}")
            ts_sec, ts_frac, caplen, orig_len = hdr.unpack_from(buf, off)
            off += 16
            if off + caplen > len(buf):
                raise PcapError(f"truncated record data at offset {off}")
            p.packets.append(Packet(ts_sec, ts_frac, orig_len, buf[off:off + caplen]))
            off += caplen
        return p

    def header_bytes(self):
        magic = MAGIC_NS if self.nanos else MAGIC_US
        return struct.pack(self.endian + "IHHiIII", magic, self.version[0], self.version[1], 0, 0,
                           self.snaplen, self.linktype)

    def record_offsets(self):
        """File offset of each record header."""
        offs = []
        off = 24
        for p in self.packets:
            offs.append(off)
            off += 16 + len(p.data)
        return offs

    def to_bytes(self):
        out = [self.header_bytes()]
        hdr = struct.Struct(self.endian + "IIII")
        for p in self.packets:
            out.append(hdr.pack(p.ts_sec, p.ts_frac, len(p.data), max(p.orig_len, len(p.data))))
            out.append(p.data)
        return b"".join(out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
        return path

    def copy(self, packets=None):
        return Pcap(self.linktype, self.snaplen, self.nanos, self.endian,
                    list(self.packets) if packets is None else packets, self.version)

    def timestamp_ns(self, i):
        p = self.packets[i]
        return p.ts_sec * 10**9 + (p.ts_frac if self.nanos else p.ts_frac * 1000)


# ---------------------------------------------------------------------------------------------
# decoding


class Segment:
    """A TCP segment inside a link frame, with enough offsets to rebuild it."""
    __slots__ = ("index", "l3", "ipver", "src", "dst", "sport", "dport", "seq", "ack", "flags",
                 "tcp", "payload_off", "payload_len", "ip_end")

    @property
    def key(self):
        """The direction: (src, sport, dst, dport)."""
        return (self.src, self.sport, self.dst, self.dport)

    @property
    def conn(self):
        """The connection, direction-free."""
        a, b = (self.src, self.sport), (self.dst, self.dport)
        return (a, b) if a <= b else (b, a)

    @property
    def end(self):
        return (self.seq + self.payload_len) & 0xFFFFFFFF


def _l3_offset(linktype, data, endian):
    """(offset of the IP header, ip version) or None."""
    if linktype == LINKTYPE_ETHERNET:
        off, etype = 12, None
        while True:
            if len(data) < off + 2:
                return None
            etype = struct.unpack(">H", data[off:off + 2])[0]
            if etype in (0x8100, 0x88A8):
                off += 4
                continue
            off += 2
            break
        return {0x0800: (off, 4), 0x86DD: (off, 6)}.get(etype)
    if linktype == LINKTYPE_NULL:
        if len(data) < 4:
            return None
        fam = struct.unpack(endian + "I", data[:4])[0]
        if fam > 0xFFFF:  # written in the other byte order
            fam = struct.unpack(("<" if endian == ">" else ">") + "I", data[:4])[0]
        if fam == 2:
            return (4, 4)
        if fam in (10, 24, 28, 30):
            return (4, 6)
        return None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None
        proto = struct.unpack(">H", data[14:16])[0]
        return {0x0800: (16, 4), 0x86DD: (16, 6)}.get(proto)
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return None
        proto = struct.unpack(">H", data[0:2])[0]
        return {0x0800: (20, 4), 0x86DD: (20, 6)}.get(proto)
    if linktype in (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not data:
            return None
        return (0, data[0] >> 4)
    return None


def decode(pcap, i):
    """The TCP segment of packet i, or None (not IPv4/IPv6 + TCP, a fragment, or truncated)."""
    data = pcap.packets[i].data
    l3 = _l3_offset(pcap.linktype, data, pcap.endian)
    if l3 is None:
        return None
    off, ver = l3
    s = Segment()
    s.index, s.l3, s.ipver = i, off, ver
    if ver == 4:
        if len(data) < off + 20:
            return None
        ihl = (data[off] & 0x0F) * 4
        total = struct.unpack(">H", data[off + 2:off + 4])[0]
        frag = struct.unpack(">H", data[off + 6:off + 8])[0]
        if data[off + 9] != 6 or frag & 0x3FFF:
            return None
        s.src, s.dst = data[off + 12:off + 16], data[off + 16:off + 20]
        tcp = off + ihl
        s.ip_end = off + total
    elif ver == 6:
        if len(data) < off + 40:
            return None
        nxt = data[off + 6]
        plen = struct.unpack(">H", data[off + 4:off + 6])[0]
        s.src, s.dst = data[off + 8:off + 24], data[off + 24:off + 40]
        tcp = off + 40
        while nxt in (0, 43, 60):  # hop-by-hop, routing, destination options
            if len(data) < tcp + 2:
                return None
            nxt, tcp = data[tcp], tcp + (data[tcp + 1] + 1) * 8
        if nxt != 6:
            return None
        s.ip_end = off + 40 + plen
    else:
        return None
    if len(data) < tcp + 20 or s.ip_end > len(data):
        return None
    s.tcp = tcp
    s.sport, s.dport, s.seq, s.ack = struct.unpack(">HHII", data[tcp:tcp + 12])
    doff = (data[tcp + 12] >> 4) * 4
    s.flags = data[tcp + 13]
    s.payload_off = tcp + doff
    s.payload_len = s.ip_end - s.payload_off
    if s.payload_len < 0:
        return None
    return s


def segments(pcap):
    """All decodable TCP segments, in file order."""
    out = []
    for i in range(len(pcap.packets)):
        s = decode(pcap, i)
        if s is not None:
            out.append(s)
    return out


def payload(pcap, seg):
    return pcap.packets[seg.index].data[seg.payload_off:seg.payload_off + seg.payload_len]


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def rebuild(pcap, seg, new_seq=None, new_payload=None):
    """A copy of seg's packet with another sequence number and/or payload; lengths and both
    checksums (IPv4 header, TCP) recomputed."""
    pkt = pcap.packets[seg.index]
    data = bytearray(pkt.data[:seg.ip_end])
    pl = payload(pcap, seg) if new_payload is None else new_payload
    data = data[:seg.payload_off] + bytearray(pl)
    tcp = seg.tcp
    if new_seq is not None:
        struct.pack_into(">I", data, tcp + 4, new_seq & 0xFFFFFFFF)
    off = seg.l3
    tcp_len = len(data) - tcp
    if seg.ipver == 4:
        struct.pack_into(">H", data, off + 2, len(data) - off)
        struct.pack_into(">H", data, off + 10, 0)
        ihl = (data[off] & 0x0F) * 4
        struct.pack_into(">H", data, off + 10, _csum(bytes(data[off:off + ihl])))
        pseudo = seg.src + seg.dst + struct.pack(">BBH", 0, 6, tcp_len)
    else:
        struct.pack_into(">H", data, off + 4, len(data) - off - 40)
        pseudo = seg.src + seg.dst + struct.pack(">IxxxB", tcp_len, 6)
    struct.pack_into(">H", data, tcp + 16, 0)
    struct.pack_into(">H", data, tcp + 16, _csum(pseudo + bytes(data[tcp:])))
    return pkt.copy(bytes(data))


# ---------------------------------------------------------------------------------------------
# choosing segments


def data_segments(pcap, ports=None):
    """Segments with payload and without SYN/FIN/RST, optionally only of connections to `ports`."""
    out = []
    for s in segments(pcap):
        if s.payload_len <= 0 or s.flags & (TCP_SYN | TCP_FIN | TCP_RST):
            continue
        if ports and s.sport not in ports and s.dport not in ports:
            continue
        out.append(s)
    return out


def _successors(segs):
    """Pairs (a, b): b is the next data segment of a's direction and starts where a ends."""
    last = {}
    pairs = []
    for s in segs:
        prev = last.get(s.key)
        if prev is not None and prev.end == s.seq:
            pairs.append((prev, s))
        last[s.key] = s
    return pairs


def _pick_disjoint_pairs(pairs, n, rng):
    rng.shuffle(pairs)
    used, chosen = set(), []
    for a, b in pairs:
        if a.index in used or b.index in used:
            continue
        # keep a margin so that two swaps never touch neighbouring segments
        if any(abs(a.index - u) <= 1 or abs(b.index - u) <= 1 for u in used):
            continue
        chosen.append((a, b))
        used.update((a.index, b.index))
        if len(chosen) == n:
            break
    return sorted(chosen, key=lambda p: p[0].index)


def _acked_between(pcap, a, b, by_conn):
    """True when a packet of the other direction between a and b acknowledges a's bytes."""
    for o in by_conn[a.conn]:
        if a.index < o.index < b.index and o.key != a.key and o.flags & 0x10:
            if ((o.ack - a.end) & 0xFFFFFFFF) < 0x80000000:
                return True
    return False


def reorder(pcap, n, seed=1, ports=None, realistic=True):
    """Swaps n pairs of consecutive data segments of one direction (b before a); timestamps stay
    in place. Realistic (the default): only pairs between which the receiver acknowledged
    nothing of a, as when two segments in flight swap places in the network; otherwise the
    mutated capture shows an ACK for bytes before the bytes themselves, as captures merged from
    several queues can. Returns (new pcap, [(a.index, b.index)])."""
    rng = random.Random(seed)
    pairs = _successors(data_segments(pcap, ports))
    if realistic:
        by_conn = {}
        for s in segments(pcap):
            by_conn.setdefault(s.conn, []).append(s)
        pairs = [(a, b) for a, b in pairs if not _acked_between(pcap, a, b, by_conn)]
    chosen = _pick_disjoint_pairs(pairs, n, rng)
    pk = list(pcap.packets)
    for a, b in chosen:
        pa, pb = pk[a.index], pk[b.index]
        pk[a.index] = Packet(pa.ts_sec, pa.ts_frac, pb.orig_len, pb.data)
        pk[b.index] = Packet(pb.ts_sec, pb.ts_frac, pa.orig_len, pa.data)
    return pcap.copy(pk), [(a.index, b.index) for a, b in chosen]


def duplicate(pcap, n, seed=1, ports=None, gap=0):
    """Inserts an exact copy of n data segments: right after the original (gap 0), or after the
    gap-th later packet of the same connection (a late retransmission; only segments whose copy
    then still comes before the connection's first FIN or RST are chosen). Returns (new pcap,
    [original indices])."""
    rng = random.Random(seed)
    segs = data_segments(pcap, ports)
    later = {}  # segment index -> index of the packet after which its copy goes
    if gap:
        by_conn, closed = {}, {}
        for s in segments(pcap):
            by_conn.setdefault(s.conn, []).append(s.index)
            if s.flags & (TCP_FIN | TCP_RST):
                closed.setdefault(s.conn, s.index)
        for s in segs:
            idx = by_conn[s.conn]
            k = idx.index(s.index) + gap
            # the copy still comes before the connection's first FIN or RST
            if k < len(idx) and idx[k] < closed.get(s.conn, len(pcap.packets)):
                later[s.index] = idx[k]
        segs = [s for s in segs if s.index in later]
    chosen = sorted(rng.sample(segs, min(n, len(segs))), key=lambda s: s.index)
    at = {}
    for s in chosen:
        at.setdefault(later.get(s.index, s.index), []).append(pcap.packets[s.index])
    pk = []
    for i, p in enumerate(pcap.packets):
        pk.append(p)
        for d in at.get(i, []):
            pk.append(Packet(p.ts_sec, p.ts_frac, d.orig_len, d.data))
    return pcap.copy(pk), [s.index for s in chosen]


def overlap(pcap, n, seed=1, ports=None):
    """For n pairs (a, b) of consecutive segments of one direction, inserts right before b (with
    b's timestamp, so that no byte arrives earlier than it did) a segment holding the second
    half of a and the first half of b: it overlaps a (already seen) and b then overlaps it. The
    bytes are the stream's own, so the stream is unchanged. Returns (new pcap,
    [(a.index, b.index)])."""
    rng = random.Random(seed)
    pairs = [(a, b) for a, b in _successors(data_segments(pcap, ports))
             if a.payload_len >= 2 and b.payload_len >= 2]
    chosen = _pick_disjoint_pairs(pairs, n, rng)
    extra = {}
    for a, b in chosen:
        ha, hb = a.payload_len // 2, b.payload_len // 2
        body = payload(pcap, a)[ha:] + payload(pcap, b)[:hb]
        extra[b.index] = rebuild(pcap, a, new_seq=a.seq + ha, new_payload=body)
    pk = []
    for i, p in enumerate(pcap.packets):
        if i in extra:
            e = extra[i]
            pk.append(Packet(p.ts_sec, p.ts_frac, e.orig_len, e.data))
        pk.append(p)
    return pcap.copy(pk), [(a.index, b.index) for a, b in chosen]


def droppable(pcap, ports=None, within=None, keep_first=True):
    """Data segments whose removal leaves exactly one hole: no other segment covers any of their
    bytes, and a later segment of the same direction (data or FIN) starts at or after their end,
    so the hole is bounded. `within(seg)`, if given, must also hold. With keep_first, the first
    data segment of each direction is never chosen (without it a connection's protocol cannot
    be recognised: that is the midstream case)."""
    segs = [s for s in segments(pcap) if not ports or s.sport in ports or s.dport in ports]
    by_dir = {}
    for s in segs:
        by_dir.setdefault(s.key, []).append(s)
    out = []
    for key, ss in by_dir.items():
        first = next((s for s in ss if s.payload_len > 0), None)
        for k, s in enumerate(ss):
            if s.payload_len <= 0 or s.flags & (TCP_SYN | TCP_FIN | TCP_RST):
                continue
            if keep_first and s is first:
                continue
            covered = any(o is not s and o.payload_len > 0 and _overlaps(o, s) for o in ss)
            bounded = any(((o.seq - s.end) & 0xFFFFFFFF) < 0x80000000 and
                          (o.payload_len > 0 or o.flags & TCP_FIN) for o in ss[k + 1:])
            if not covered and bounded and (within is None or within(s)):
                out.append(s)
    return out


def _overlaps(a, b):
    # sequence arithmetic modulo 2^32, for segments far smaller than 2^31
    d = (a.seq - b.seq) & 0xFFFFFFFF
    if d >= 0x80000000:
        d -= 1 << 32
    return d < b.payload_len and -d < a.payload_len


def drop(pcap, n, seed=1, ports=None, within=None, keep_first=True):
    """Removes n data segments, never two neighbours of one direction (so n holes). Returns
    (new pcap, [dropped Segment]) — each dropped segment is one hole of payload_len bytes."""
    rng = random.Random(seed)
    cands = droppable(pcap, ports, within, keep_first)
    rng.shuffle(cands)
    chosen = []
    taken = {}
    for s in cands:
        # neighbours in the same direction would merge two holes into one
        if any(s.end == o.seq or o.end == s.seq for o in taken.get(s.key, [])):
            continue
        chosen.append(s)
        taken.setdefault(s.key, []).append(s)
        if len(chosen) == n:
            break
    gone = {s.index for s in chosen}
    pk = [p for i, p in enumerate(pcap.packets) if i not in gone]
    return pcap.copy(pk), sorted(chosen, key=lambda s: s.index)


# ---------------------------------------------------------------------------------------------
# where the HTTP/1 bodies are (to drop segments inside a known exchange's body)


def reassemble(pcap, server_ports):
    """Each connection's two byte streams, for captures without loss (originals):
    {client (ip bytes, port): {"c2s": (base seq, bytes), "s2c": (base seq, bytes)}}."""
    dirs = {}
    for s in segments(pcap):
        if s.dport in server_ports:
            client, d = (s.src, s.sport), "c2s"
        elif s.sport in server_ports:
            client, d = (s.dst, s.dport), "s2c"
        else:
            continue
        st = dirs.setdefault(client, {}).setdefault(d, {"base": None, "parts": []})
        if s.flags & TCP_SYN:
            st["base"] = (s.seq + 1) & 0xFFFFFFFF
        elif s.payload_len:
            st["parts"].append((s.seq, payload(pcap, s)))
    out = {}
    for client, ds in dirs.items():
        out[client] = {}
        for d, st in ds.items():
            base = st["base"] if st["base"] is not None else (
                st["parts"][0][0] if st["parts"] else 0)
            buf = bytearray()
            for seq, data in st["parts"]:
                off = (seq - base) & 0xFFFFFFFF
                if off > 1 << 30:
                    continue
                if len(buf) < off + len(data):
                    buf.extend(b"\0" * (off + len(data) - len(buf)))
                buf[off:off + len(data)] = data
            out[client][d] = (base, bytes(buf))
    return out


def _headers(block):
    lines = block.split(b"\r\n")
    hs = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            hs[k.strip().lower()] = v.strip()
    return lines[0], hs


def _chunked_end(buf, pos):
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return len(buf)
        size = int(buf[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return len(buf) if end < 0 else end + 4
        pos += size + 2


def http1_bodies(pcap, server_ports):
    """Body ranges of the HTTP/1 messages of each connection, as absolute TCP sequence numbers:
    [(client, direction, exchange index, framing, first seq, end seq)] (end exclusive)."""
    out = []
    for client, ds in reassemble(pcap, server_ports).items():
        methods = []
        for d in ("c2s", "s2c"):
            if d not in ds:
                continue
            base, buf = ds[d]
            pos, k = 0, 0
            while pos < len(buf):
                hend = buf.find(b"\r\n\r\n", pos)
                if hend < 0:
                    break
                first, hs = _headers(buf[pos:hend])
                start = hend + 4
                status = None
                if d == "c2s":
                    methods.append(first.split(b" ")[0])
                else:
                    status = int(first.split(b" ")[1])
                    if 100 <= status < 200:
                        if status == 101:
                            break
                        pos = start
                        continue
                if d == "s2c" and (status in (204, 304) or
                                   (k < len(methods) and methods[k] == b"HEAD")):
                    end, framing = start, "none"
                elif b"chunked" in hs.get(b"transfer-encoding", b""):
                    end, framing = _chunked_end(buf, start), "chunked"
                elif b"content-length" in hs:
                    end, framing = start + int(hs[b"content-length"]), "content-length"
                elif d == "s2c":
                    end, framing = len(buf), "close"
                else:
                    end, framing = start, "none"
                if end > start:
                    out.append((client, d, k, framing, (base + start) & 0xFFFFFFFF,
                                (base + end) & 0xFFFFFFFF))
                pos, k = end, k + 1
    return out


def inside(seg, body):
    """True when all of seg's payload lies strictly inside the body range (first, end)."""
    first, end = body[4], body[5]
    a = (seg.seq - first) & 0xFFFFFFFF
    b = (end - seg.end) & 0xFFFFFFFF
    return 0 < a < 1 << 30 and 0 < b < 1 << 30


# ---------------------------------------------------------------------------------------------
# damage


def truncate_bytes(buf, offset):
    return buf[:offset]


def bad_magic(buf):
    return b"\x00\x11\x22\x33" + buf[4:]


def with_linktype(buf, linktype):
    endian = "<" if struct.unpack("<I", buf[:4])[0] in (MAGIC_US, MAGIC_NS) else ">"
    return buf[:20] + struct.pack(endian + "I", linktype) + buf[24:]


def bad_record_length(pcap, i):
    """The file with record i claiming a capture length beyond any snap length (0x7FFFFFF0)."""
    buf = bytearray(pcap.to_bytes())
    off = pcap.record_offsets()[i]
    struct.pack_into(pcap.endian + "I", buf, off + 8, 0x7FFFFFF0)
    return bytes(buf)


# ---------------------------------------------------------------------------------------------
# encapsulation


def _eth_l3(pcap, p):
    l3 = _l3_offset(LINKTYPE_ETHERNET, p.data, pcap.endian)
    return l3


def reencapsulate(pcap, linktype):
    """An Ethernet capture re-encapsulated as `linktype` (SLL, SLL2, RAW, NULL, IPV4/IPV6)."""
    if pcap.linktype != LINKTYPE_ETHERNET:
        raise PcapError("reencapsulate reads Ethernet captures only")
    pk = []
    for p in pcap.packets:
        l3 = _eth_l3(pcap, p)
        if l3 is None:
            continue
        off, ver = l3
        ip = p.data[off:]
        proto = 0x0800 if ver == 4 else 0x86DD
        if linktype == LINKTYPE_LINUX_SLL:
            head = struct.pack(">HHH8sH", 0, 772, 6, p.data[6:12] + b"\0\0", proto)
        elif linktype == LINKTYPE_LINUX_SLL2:
            head = struct.pack(">HHIHBB8s", proto, 0, 1, 772, 0, 6, p.data[6:12] + b"\0\0")
        elif linktype == LINKTYPE_NULL:
            head = struct.pack(pcap.endian + "I", 2 if ver == 4 else 10)
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
            head = b""
        else:
            raise PcapError(f"cannot encapsulate as link type {linktype}")
        data = head + ip
        pk.append(Packet(p.ts_sec, p.ts_frac, p.orig_len - off + len(head), data))
    out = pcap.copy(pk)
    out.linktype = linktype
    return out


def add_vlan(pcap, vid=42):
    """Ethernet frames with an 802.1Q tag inserted after the MAC addresses."""
    pk = []
    for p in pcap.packets:
        d = p.data[:12] + struct.pack(">HH", 0x8100, vid & 0x0FFF) + p.data[12:]
        pk.append(Packet(p.ts_sec, p.ts_frac, p.orig_len + 4, d))
    return pcap.copy(pk)


def with_byte_order(pcap, endian):
    out = pcap.copy()
    out.endian = endian
    return out


def with_nanoseconds(pcap):
    out = pcap.copy([Packet(p.ts_sec, p.ts_frac * 1000 if not pcap.nanos else p.ts_frac,
                            p.orig_len, p.data) for p in pcap.packets])
    out.nanos = True
    return out


def to_pcapng(src, dst):
    """Converts with editcap (wireshark-common)."""
    if not shutil.which("editcap"):
        raise PcapError("editcap is not installed")
    subprocess.run(["editcap", "-F", "pcapng", src, dst], check=True, capture_output=True,
                   timeout=120)
    return dst


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Mutate a pcap for capture tests.")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, action="append", help="only connections to this port")
    ap.add_argument("--reorder", type=int, default=0)
    ap.add_argument("--duplicate", type=int, default=0)
    ap.add_argument("--overlap", type=int, default=0)
    ap.add_argument("--drop", type=int, default=0)
    ap.add_argument("--truncate", type=int, help="cut the output at this byte offset")
    ap.add_argument("--bad-magic", action="store_true")
    ap.add_argument("--linktype", type=int, help="rewrite the header's link type")
    ap.add_argument("--encap", choices=["sll", "sll2", "raw", "null", "vlan"])
    ap.add_argument("--big-endian", action="store_true")
    ap.add_argument("--nanos", action="store_true")
    ap.add_argument("--pcapng", action="store_true", help="convert the result with editcap")
    a = ap.parse_args(argv)
    p = Pcap.read(a.input)
    ports = set(a.port) if a.port else None
    report = []
    if a.reorder:
        p, r = reorder(p, a.reorder, a.seed, ports)
        report.append(f"reordered {len(r)} pairs")
    if a.duplicate:
        p, r = duplicate(p, a.duplicate, a.seed, ports)
        report.append(f"duplicated {len(r)} segments")
    if a.overlap:
        p, r = overlap(p, a.overlap, a.seed, ports)
        report.append(f"overlapped {len(r)} pairs")
    if a.drop:
        p, r = drop(p, a.drop, a.seed, ports)
        report.append(f"dropped {len(r)} segments ({sum(s.payload_len for s in r)} bytes)")
    if a.encap:
        p = add_vlan(p) if a.encap == "vlan" else reencapsulate(p, {
            "sll": LINKTYPE_LINUX_SLL, "sll2": LINKTYPE_LINUX_SLL2, "raw": LINKTYPE_RAW,
            "null": LINKTYPE_NULL}[a.encap])
    if a.big_endian:
        p = with_byte_order(p, ">")
    if a.nanos:
        p = with_nanoseconds(p)
    buf = p.to_bytes()
    if a.bad_magic:
        buf = bad_magic(buf)
    if a.linktype is not None:
        buf = with_linktype(buf, a.linktype)
    if a.truncate is not None:
        buf = truncate_bytes(buf, a.truncate)
    if a.pcapng:
        tmp = a.output + ".tmp.pcap"
        with open(tmp, "wb") as f:
            f.write(buf)
        to_pcapng(tmp, a.output)
        import os
        os.unlink(tmp)
    else:
        with open(a.output, "wb") as f:
            f.write(buf)
    print("; ".join(report) or "copied", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
