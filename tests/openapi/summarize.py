"""The closing line of tests/openapi/run.sh: `N passed, N failed`.

  summarize.py DRIFT_JSON JUNIT_XML...

Counts the drift checks (DRIFT_JSON from check_drift.py) and schemathesis's test cases
(each JUNIT_XML, one run: a test case per operation, and one for the stateful phase). A
missing or unreadable file counts as one failed check. Exits 1 if anything failed.
"""

import json
import sys
import xml.etree.ElementTree as ET


def drift(path):
    try:
        with open(path) as f:
            r = json.load(f)
        return int(r["passed"]), int(r["failed"])
    except (OSError, ValueError, KeyError):
        print(f"summary: no drift results in {path}")
        return 0, 1


def fuzz(path):
    try:
        cases = ET.parse(path).getroot().iter("testcase")
    except (OSError, ET.ParseError):
        print(f"summary: no schemathesis report at {path}")
        return 0, 1
    passed = failed = 0
    for case in cases:
        bad = [c.tag for c in case if c.tag in ("failure", "error")]
        if bad:
            failed += 1
            print(f"summary: schemathesis {bad[0]}: {case.get('name')}")
        elif not any(c.tag == "skipped" for c in case):
            passed += 1
    if passed + failed == 0:
        print(f"summary: the schemathesis report at {path} has no test case")
        failed = 1
    return passed, failed


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    dp, df = drift(argv[0])
    fp = ff = 0
    for path in argv[1:]:
        p, f = fuzz(path)
        fp, ff = fp + p, ff + f
    print(f"drift checks: {dp} passed, {df} failed; schemathesis operations: {fp} passed, {ff} failed")
    passed, failed = dp + fp, df + ff
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
