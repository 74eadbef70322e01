"""optuna-dashboard serves a kiln study: its API lists the studies and each one's trials, and
its page renders (called in-process through its WSGI app; no server or port).

Usage: python3 tests/scripts/dashboard_check.py sqlite:///path/kiln.db  (prints JSON)
"""
import io, json, sys
from optuna_dashboard import wsgi
app = wsgi(sys.argv[1])
def get(path, qs=""):
    status = []
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": qs,
           "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "SERVER_NAME": "localhost",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}
    body = b"".join(app(env, lambda s, h, e=None: status.append(s)))
    return status[0], body
s, body = get("/api/studies")
assert s.startswith("200"), (s, body[:300])
studies = json.loads(body)["study_summaries"]
out = []
for st in studies:
    s, body = get(f"/api/studies/{st['study_id']}", "after=0")
    assert s.startswith("200"), (s, body[:300])
    d = json.loads(body)
    out.append({"name": d["name"], "trials": len(d["trials"]), "states": sorted({t["state"] for t in d["trials"]})})
s, _ = get(f"/dashboard/studies/{studies[0]['study_id']}")
assert s.startswith("200"), s
print(json.dumps(out))
