"""End-to-end test of `twin compare` on XML answers: captured GETs (written here as JSONL),
replayed by `twin replay` against two nginx servers that serve the same documents as two
different serializers would write them, and one changed, then compared.

The answer written another way (other namespace prefixes, the namespace declared elsewhere,
attributes in another order, CDATA for escapes, no indentation, a comment) must not be reported;
the changed one must be named by its element and attribute paths, not by `$body`, and a body
nginx labels application/octet-stream is read as XML by its declaration.

Each test is one ctest entry:  python3 test_compare_xml.py TestCase.test_name
(TWIN_BIN names the binary; TWIN_E2E_KEEP=1 keeps the temporary directories.) Exit code 77
means skipped (no nginx). Harness: tests/capture_e2e/harness.py, tests/replay_e2e/test_replay.py.
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
ROUTES = [SOAP, LIST, LEGACY]

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

def serve(workdir, name, documents):
    """nginx (harness.Nginx: text/xml for .xml, application/soap+xml for .soap, the rest
    application/octet-stream) serving the given documents, one per route."""
    docroot = os.path.join(workdir, name, "docs")
    for route, text in zip(ROUTES, documents):
        path = os.path.join(docroot, route.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return h.Nginx(os.path.join(workdir, name), docroot)


def target(name, server):
    return f"{name}=http://127.0.0.1:{server.http_port}"


class Xml(tr.Case):
    def setUp(self):
        super().setUp()
        self.need("nginx")

    def test_changed_values_are_named_and_serializer_choices_are_not(self):
        n = 240
        xs = [tr.gen_exchange(i + 1, 1 + i % 6, i // 6, tr.BASE_NS + i * 5 * tr.MS,
                              ROUTES[i % 3], authority="orders.internal") for i in range(n)]
        capture = tr.write_capture(self.fresh("xml"), xs)
        with serve(self.tmp.path, "baseline", [SOAP_BASE, LIST_BASE, LEGACY_BASE]) as base, \
                serve(self.tmp.path, "candidate", [SOAP_OTHER, LIST_CAND, LEGACY_CAND]) as cand:
            run = tr.replay(self, capture, [target("baseline", base), target("candidate", cand)],
                            timeout=90).ok(self)
        for name in ("baseline", "candidate"):
            t = run.target(name)
            self.assertEqual(t["completed"], n, name)
            self.assertEqual(t["errors"], 0, tr.errors_by_kind(t))
        types = {}
        for x in run.exchanges:
            if x["target"] == "baseline":
                ct = [v for k, v in x["response"]["headers"] if k.lower() == "content-type"]
                types[x["request"]["target"]] = ct
        self.assertEqual(types, {SOAP: ["application/soap+xml"], LIST: ["text/xml"],
                                 LEGACY: ["application/octet-stream"]})

        r, report, _ = tc.compare(self, run.out, "--baseline", "baseline", "--candidate",
                                  "candidate", expect=1)
        routes = {f'{x["method"]} {x["route"]}': x for x in report["routes"]}
        soap, lst, legacy = (routes["GET " + route] for route in ROUTES)
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


if __name__ == "__main__":
    sys.exit(tc.main(sys.modules[__name__]))
