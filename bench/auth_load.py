"""Registration and login latency under concurrent clients, against a running Job Manager.

Each client registers fresh companies (the full flow: auth, Kafka request to profile, the
profile row in its shard, the reply) and then logs each one in. Prints p50 and p99 of both.
Usage: python3 bench/auth_load.py BASE_URL [CLIENTS] [PER_CLIENT]
"""

import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
PER_CLIENT = int(sys.argv[3]) if len(sys.argv) > 3 else 10
PASSWORD = "Load-test1!"


def post(path, body):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def client(results):
    for _ in range(PER_CLIENT):
        email = f"load-{uuid.uuid4().hex[:12]}@load.example"
        company = {"companyName": "Load Co", "email": email, "password": PASSWORD, "country": "VN"}
        status, ms = post("/api/register", company)
        results["register"].append((status, ms))
        if status == 201:
            status, ms = post("/api/login", {"email": email, "password": PASSWORD})
            results["login"].append((status, ms))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    results = {"register": [], "login": []}
    threads = [threading.Thread(target=client, args=(results,)) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(f"{CLIENTS} clients x {PER_CLIENT} companies in {elapsed:.1f} s")
    print(f"{'operation':<10} {'ok':>5} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rows in results.items():
        ok = [ms for status, ms in rows if status in (200, 201)]
        failed = len(rows) - len(ok)
        if ok:
            p50, p99 = percentile(ok, 50), percentile(ok, 99)
            print(f"{name:<10} {len(ok):>5} {failed:>7} {p50:>8.1f} {p99:>8.1f}")
        else:
            print(f"{name:<10} {0:>5} {failed:>7} {'-':>8} {'-':>8}")
    codes = {}
    for status, _ in results["register"] + results["login"]:
        codes[status] = codes.get(status, 0) + 1
    median = statistics.median(ms for _, ms in results["register"])
    print("statuses:", dict(sorted(codes.items())), f"(median of all: {median:.1f} ms register)")


if __name__ == "__main__":
    main()
