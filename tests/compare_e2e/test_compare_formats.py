"""End-to-end tests of `twin compare` on XML, Apache Thrift, server-sent events and JSON Lines
answers: captured GETs (written here as JSONL), replayed by `twin replay` against two nginx
servers that serve the same documents as two different serializers would write them, and
changed ones, then compared.

An answer written another way (XML: other namespace prefixes, the namespace declared elsewhere,
attributes in another order, CDATA for escapes, no indentation, a comment; Thrift: fields in
another order, a set in another order, another sequence id; events: CRLF, comments, data over
two lines, keys in another order) must not be reported; a changed one
must be named by its paths, not by `$body`. Apache Thrift's Python library (python3-thrift)
writes the Thrift answers, an encoder independent of twin's reader.

Each test is one ctest entry:  python3 test_compare_formats.py TestCase.test_name
(TWIN_BIN names the binary; TWIN_E2E_KEEP=1 keeps the temporary directories.) Exit code 77
means skipped (no nginx, or no python3-thrift). Harness: tests/capture_e2e/harness.py,
tests/replay_e2e/test_replay.py.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "replay_e2e"))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402
import test_compare as tc  # noqa: E402
import test_replay as tr  # noqa: E402

SOAP = "/orders/get.soap"   # application/soap+xml: written another way, the same answer
LIST = "/orders/list.xml"   # text/xml: an order inserted at the top, a total changed
LEGACY = "/legacy/order.dat"  # application/octet-stream with an XML declaration: a changed id
XML_ROUTES = [SOAP, LIST, LEGACY]
SPANS = "/spans/batch.thrift"        # application/x-thrift (binary): the same, written otherwise
ORDER = "/orders/get.tcompact"       # compact: a reply whose order changed a field and a line
THRIFT_ROUTES = [SPANS, ORDER]

CHAT = "/chat/completions.sse"   # text/event-stream: the same events, written otherwise
FEED = "/feed/updates.sse"        # text/event-stream: one streamed token changed
EXPORT = "/export/orders.ndjson"  # application/x-ndjson: a record inserted, a status changed
STREAM_ROUTES = [CHAT, FEED, EXPORT]

ENV = "http://schemas.xmlsoap.org/soap/envelope/"

SOAP_BASE = f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{ENV}" xmlns:m="urn:shop">
  <soap:Body>
    <m:GetOrderResponse>
      <m:order id="17" status="paid">
        <m:customer>Tom &amp; Jerry</m:customer>
        <m:line sku="A-1" qty="2"/>
        <m:line sku="B-7" qty="1"/>
        <m:total currency="EUR">12.50</m:total>
      </m:order>
    </m:GetOrderResponse>
  </soap:Body>
</soap:Envelope>
"""
SOAP_OTHER = (f'<env:Envelope xmlns:env="{ENV}"><env:Body>'
              '<GetOrderResponse xmlns="urn:shop"><!-- v2 serializer -->'
              "<order status='paid' id='17'><customer><![CDATA[Tom & Jerry]]></customer>"
              '<line qty="2" sku="A-1"></line><line qty="1" sku="B-7"/>'
              '<total currency="EUR">12.50</total></order></GetOrderResponse>'
              "</env:Body></env:Envelope>")


def order_list(orders):
    items = "".join(f'  <order id="{i}"><total>{t}</total></order>\n' for i, t in orders)
    return f'<?xml version="1.0"?>\n<orders xmlns="urn:shop">\n{items}</orders>\n'


LIST_BASE = order_list([(1, "5.00"), (2, "7.00"), (3, "9.00")])
LIST_CAND = order_list([(9, "1.00"), (1, "5.00"), (2, "7.50"), (3, "9.00")])
LEGACY_BASE = '<?xml version="1.0"?><order><id>4215</id><state>open</state></order>'
LEGACY_CAND = '<?xml version="1.0"?><order><id>4216</id><state>open</state></order>'

def completion(tokens, other=False):
    """A streamed chat completion as an LLM API sends it: an event per token, then [DONE].
    `other`: as another server writes the same events (CRLF, no space after the colons, the JSON
    over two data lines with its keys in another order, keep-alive comments, `event: message`
    said, the id once)."""
    eol = "\r\n" if other else "\n"
    out = []
    for i, t in enumerate(tokens):
        if other:
            if i % 2 == 0:
                out.append(": keep-alive" + eol)
            if i == 0:
                out.append("id:cmpl-42" + eol)
            out.append("event:message" + eol)
            out.append('data:{"choices":[{"index":0,' + eol)
            out.append('data: "delta":{"content":"%s"}}],"object":"chunk"}%s' % (t, eol))
        else:
            out.append("id: cmpl-42" + eol)
            out.append('data: {"object": "chunk", "choices": [{"delta": {"content": "%s"}, '
                       '"index": 0}]}%s' % (t, eol))
        out.append(eol)
    out.append("data: [DONE]" + eol + eol)
    return "".join(out)


def orders(rows):
    return "".join('{"id":%d,"status":"%s","total":%s}\n' % r for r in rows)


CHAT_BASE = completion(["Hel", "lo", ", Ann", "!"])
CHAT_OTHER = completion(["Hel", "lo", ", Ann", "!"], other=True)
FEED_BASE = completion(["Your", " order", " shipped"])
FEED_CAND = completion(["Your", " order", " is lost"])
EXPORT_BASE = orders([(1, "paid", "5.0"), (2, "open", "7.5")])
EXPORT_CAND = ('{"id":0, "status":"new", "total":1}\r\n'
               + orders([(1, "paid", "5.00"), (2, "void", "7.5")]))


def serve(workdir, name, routes, documents):
    """nginx (harness.Nginx: text/xml for .xml, application/soap+xml for .soap,
    application/x-thrift for .thrift, application/vnd.apache.thrift.compact for .tcompact, the
    rest application/octet-stream) serving the given documents, one per route."""
    docroot = os.path.join(workdir, name, "docs")
    for route, data in zip(routes, documents):
        path = os.path.join(docroot, route.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return h.Nginx(os.path.join(workdir, name), docroot)


def thrift_modules(case):
    """python3-thrift's protocol modules; Debian's dist-packages is looked in too, for a python3
    that is not Debian's own. Skips the test without them."""
    try:
        from thrift.protocol import TBinaryProtocol  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from thrift.protocol import TBinaryProtocol, TCompactProtocol
        from thrift.Thrift import TMessageType, TType
        from thrift.transport import TTransport
    except ImportError:
        case.skipTest("python3-thrift is not installed (scripts/setup.sh)")
    return TBinaryProtocol, TCompactProtocol, TMessageType, TType, TTransport


def spans(mods, reverse):
    """A Jaeger-like batch as TBinaryProtocol writes it: struct Batch { 1: Process process,
    2: list<Span> spans }, Process { 1: string service, 2: set<string> tags }, Span { 1: i64 id,
    2: string op, 3: i32 duration }. `reverse`: fields last first, the set the other way."""
    TBinaryProtocol, _, _, TType, TTransport = mods
    buf = TTransport.TMemoryBuffer()
    p = TBinaryProtocol.TBinaryProtocol(buf)

    def fields(items):
        for write in (reversed(items) if reverse else items):
            write()

    def process():
        p.writeStructBegin("Process")
        fields([lambda: (p.writeFieldBegin("service", TType.STRING, 1), p.writeString("checkout"),
                         p.writeFieldEnd()),
                lambda: (p.writeFieldBegin("tags", TType.SET, 2),
                         p.writeSetBegin(TType.STRING, 2),
                         [p.writeString(t) for t in (["b", "a"] if reverse else ["a", "b"])],
                         p.writeSetEnd(), p.writeFieldEnd())])
        p.writeFieldStop()
        p.writeStructEnd()

    def span(i):
        p.writeStructBegin("Span")
        fields([lambda: (p.writeFieldBegin("id", TType.I64, 1), p.writeI64(1000 + i),
                         p.writeFieldEnd()),
                lambda: (p.writeFieldBegin("op", TType.STRING, 2), p.writeString(f"op{i}"),
                         p.writeFieldEnd()),
                lambda: (p.writeFieldBegin("duration", TType.I32, 3), p.writeI32(10 * i),
                         p.writeFieldEnd())])
        p.writeFieldStop()
        p.writeStructEnd()

    p.writeStructBegin("Batch")
    fields([lambda: (p.writeFieldBegin("process", TType.STRUCT, 1), process(), p.writeFieldEnd()),
            lambda: (p.writeFieldBegin("spans", TType.LIST, 2),
                     p.writeListBegin(TType.STRUCT, 3), [span(i) for i in range(3)],
                     p.writeListEnd(), p.writeFieldEnd())])
    p.writeFieldStop()
    p.writeStructEnd()
    return buf.getvalue()


def order_reply(mods, seqid, customer, qtys):
    """A getOrder reply as TCompactProtocol writes it: the result struct's field 0 is the Order
    { 1: i64 id, 2: string customer, 3: list<Line> lines }, Line { 1: string sku, 2: i32 qty }."""
    _, TCompactProtocol, TMessageType, TType, TTransport = mods
    buf = TTransport.TMemoryBuffer()
    p = TCompactProtocol.TCompactProtocol(buf)
    p.writeMessageBegin("getOrder", TMessageType.REPLY, seqid)
    p.writeStructBegin("result")
    p.writeFieldBegin("success", TType.STRUCT, 0)
    p.writeStructBegin("Order")
    p.writeFieldBegin("id", TType.I64, 1)
    p.writeI64(4215)
    p.writeFieldEnd()
    p.writeFieldBegin("customer", TType.STRING, 2)
    p.writeString(customer)
    p.writeFieldEnd()
    p.writeFieldBegin("lines", TType.LIST, 3)
    p.writeListBegin(TType.STRUCT, len(qtys))
    for i, qty in enumerate(qtys):
        p.writeStructBegin("Line")
        p.writeFieldBegin("sku", TType.STRING, 1)
        p.writeString(f"SKU-{i}")
        p.writeFieldEnd()
        p.writeFieldBegin("qty", TType.I32, 2)
        p.writeI32(qty)
        p.writeFieldEnd()
        p.writeFieldStop()
        p.writeStructEnd()
    p.writeListEnd()
    p.writeFieldEnd()
    p.writeFieldStop()
    p.writeStructEnd()
    p.writeFieldEnd()
    p.writeFieldStop()
    p.writeStructEnd()
    p.writeMessageEnd()
    return buf.getvalue()


def target(name, server):
    return f"{name}=http://127.0.0.1:{server.http_port}"


class Formats(tr.Case):
    def setUp(self):
        super().setUp()
        self.need("nginx")

    def replay(self, routes, baseline, candidate, n, types):
        """n GETs round-robin over `routes` replayed against nginx serving `baseline` and nginx
        serving `candidate`; checks every answer came, with the media types `types` names."""
        xs = [tr.gen_exchange(i + 1, 1 + i % 6, i // 6, tr.BASE_NS + i * 5 * tr.MS,
                              routes[i % len(routes)], authority="orders.internal")
              for i in range(n)]
        capture = tr.write_capture(self.fresh("capture"), xs)
        with serve(self.tmp.path, "baseline", routes, baseline) as base, \
                serve(self.tmp.path, "candidate", routes, candidate) as cand:
            run = tr.replay(self, capture, [target("baseline", base), target("candidate", cand)],
                            timeout=90).ok(self)
        for name in ("baseline", "candidate"):
            t = run.target(name)
            self.assertEqual(t["completed"], n, name)
            self.assertEqual(t["errors"], 0, tr.errors_by_kind(t))
        seen = {}
        for x in run.exchanges:
            if x["target"] == "baseline":
                ct = [v for k, v in x["response"]["headers"] if k.lower() == "content-type"]
                seen[x["request"]["target"]] = ct
        self.assertEqual(seen, {route: [t] for route, t in zip(routes, types)})
        r, report, _ = tc.compare(self, run.out, "--baseline", "baseline", "--candidate",
                                  "candidate", expect=1)
        routes_by_name = {f'{x["method"]} {x["route"]}': x for x in report["routes"]}
        return r, report, [routes_by_name["GET " + route] for route in routes]

    def test_xml_changes_are_named_and_serializer_choices_are_not(self):
        n = 240
        r, report, (soap, lst, legacy) = self.replay(
            XML_ROUTES, [SOAP_BASE, LIST_BASE, LEGACY_BASE], [SOAP_OTHER, LIST_CAND, LEGACY_CAND],
            n, ["application/soap+xml", "text/xml", "application/octet-stream"])
        self.assertEqual(soap["diffs"], [], soap)
        self.assertEqual(soap["verdict"], "pass", soap)
        # the inserted order names the list; the changed total its field; nothing else
        self.assertEqual(sorted(d["path"] for d in lst["diffs"]),
                         ["$.orders.order", "$.orders.order[*].total"], lst)
        self.assertEqual([d["path"] for d in legacy["diffs"]], ["$.order.id"], legacy)
        for x in (lst, legacy):
            self.assertEqual(x["verdict"], "regressed", x)
            for d in x["diffs"]:
                self.assertEqual(d["differ"], n // 3, d)
        for x in (soap, lst, legacy):
            self.assertEqual(x["errors"], {}, x)
            self.assertEqual(x["status_changes"], [], x)
        # every differing pair read as XML (the SOAP answers differ in bytes, not in meaning)
        bodies = report["counters"]["bodies"]
        self.assertEqual((bodies["xml"], bodies["unreadable"], bodies["unknown_format"]),
                         (n, 0, 0), bodies)
        self.assertNotIn("Tom", r.stdout_text)  # paths and counts only, never a value

    def test_thrift_changes_are_named_and_serializer_choices_are_not(self):
        mods = thrift_modules(self)
        n = 200
        base = [spans(mods, False), order_reply(mods, 1, "Ann", [2, 1])]
        cand = [spans(mods, True), order_reply(mods, 77, "Bob", [2, 3])]
        r, report, (batch, order) = self.replay(
            THRIFT_ROUTES, base, cand, n,
            ["application/x-thrift", "application/vnd.apache.thrift.compact"])
        self.assertEqual(batch["diffs"], [], batch)
        self.assertEqual(batch["verdict"], "pass", batch)
        # the customer, and the second line's quantity (the list aligned, the line paired)
        self.assertEqual(sorted(d["path"] for d in order["diffs"]), ["$.0.2", "$.0.3[*].2"],
                         order)
        self.assertEqual(order["verdict"], "regressed", order)
        for d in order["diffs"]:
            self.assertEqual(d["differ"], n // 2, d)
        bodies = report["counters"]["bodies"]
        self.assertEqual((bodies["thrift"], bodies["unreadable"], bodies["unknown_format"]),
                         (n, 0, 0), bodies)
        self.assertNotIn("Bob", r.stdout_text)

    def test_event_streams_and_json_lines_are_read_record_by_record(self):
        n = 240
        r, report, (chat, feed, export) = self.replay(
            STREAM_ROUTES, [CHAT_BASE, FEED_BASE, EXPORT_BASE],
            [CHAT_OTHER, FEED_CAND, EXPORT_CAND], n,
            ["text/event-stream", "text/event-stream", "application/x-ndjson"])
        self.assertEqual(chat["diffs"], [], chat)
        self.assertEqual(chat["verdict"], "pass", chat)
        # the changed token, named down to its field in the event's JSON data
        self.assertEqual([d["path"] for d in feed["diffs"]],
                         ["$[*].data.choices[*].delta.content"], feed)
        # the inserted record names the stream; the changed status its field (5.00 is 5.0)
        self.assertEqual(sorted(d["path"] for d in export["diffs"]), ["$", "$[*].status"],
                         export)
        for x in (feed, export):
            self.assertEqual(x["verdict"], "regressed", x)
            for d in x["diffs"]:
                self.assertEqual(d["differ"], n // 3, d)
        for x in (chat, feed, export):
            self.assertEqual(x["errors"], {}, x)
            self.assertEqual(x["status_changes"], [], x)
        bodies = report["counters"]["bodies"]
        self.assertEqual((bodies["event_stream"], bodies["json_lines"], bodies["unreadable"],
                          bodies["unknown_format"]), (2 * n // 3, n // 3, 0, 0), bodies)
        self.assertNotIn("lost", r.stdout_text)  # paths and counts only, never a value


if __name__ == "__main__":
    sys.exit(tc.main(sys.modules[__name__]))
