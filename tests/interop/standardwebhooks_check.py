"""The Standard Webhooks reference library (PyPI `standardwebhooks`) as an
independent signer and verifier for tests/webhook_security.rs.

    standardwebhooks_check.py verify FILE  -> one {"ok": bool, "error": str} per case
    standardwebhooks_check.py sign FILE    -> one "v1,<base64>" per case

FILE holds JSON (bodies may be too large for a command line):
{"secret": "whsec_...", "cases": [...]}; a verify case is
{"body": str, "headers": {name: value}}, a sign case
{"id": str, "timestamp": int, "body": str}. Output is JSON on stdout.
"""

import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    mode = sys.argv[1]
    with open(sys.argv[2], encoding="utf-8") as f:
        spec = json.load(f)
    hook = Webhook(spec["secret"])
    out = []
    for case in spec["cases"]:
        if mode == "verify":
            try:
                hook.verify(case["body"], case["headers"], json_parse=False)
                out.append({"ok": True, "error": ""})
            except WebhookVerificationError as e:
                out.append({"ok": False, "error": str(e)})
        elif mode == "sign":
            at = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
            out.append(hook.sign(case["id"], at, case["body"]))
        else:
            raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
