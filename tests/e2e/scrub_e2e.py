"""What the scrub e2e tests share: an archive of exchanges and a key file to scrub it with."""

import json
import os

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def archive_and_key(directory, rows):
    """Writes `rows` (exchanges as dicts) as DIR/in.jsonl and a 32-byte key as DIR/key; returns
    the two paths."""
    src = os.path.join(directory, "in.jsonl")
    with open(src, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    key = os.path.join(directory, "key")
    with open(key, "w") as f:
        f.write(KEY_HEX + "\n")
    return src, key
