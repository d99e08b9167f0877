"""json.dumps / json.loads of a small nested document, N times (argv[1])."""
import json
import sys

DOC = {"id": 1, "name": "widget", "tags": ["a", "b", "c"],
       "dims": {"w": 1.5, "h": 2.25, "d": [1, 2, 3]}, "ok": True, "none": None}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    total = 0
    for i in range(n):
        DOC["id"] = i
        total += len(json.loads(json.dumps(DOC))["tags"])
    print("json loop: %d iterations, checksum %d" % (n, total))


main()
