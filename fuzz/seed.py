#!/usr/bin/env python3
"""Writes the checked-in seed corpora of the fuzz targets (fuzz/corpus/<target>/) from
tests/data/fixtures, tests/data/corpus and the repo's own format testdata. Run from the repo root
after a change of the fixtures: python3 fuzz/seed.py. Keeps each seed small (<= 4 KiB)."""
import gzip, hashlib, json, os, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data"
OUT = ROOT / "fuzz" / "corpus"
CAP = 4096


def put(target, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    data = data[:CAP]
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def lines(path, n):
    return b"\n".join(path.read_bytes().splitlines()[:n]) + b"\n"


fx = SHARED / "fixtures"
for p in sorted((fx / "mdstat").glob("*.txt")):
    put("mdstat", p.read_bytes())
for p in sorted((fx / "smart").glob("*.json")):
    # smartctl's JSON is large; keep it whole only when small, else the keys the parser reads.
    raw = p.read_bytes()
    if len(raw) > CAP:
        v = json.loads(raw)
        keep = {k: v[k] for k in ("smartctl", "device", "smart_status", "ata_smart_attributes",
                                  "nvme_smart_health_information_log", "temperature",
                                  "scsi_grown_defect_list", "scsi_error_counter_log") if k in v}
        if "smartctl" in keep:
            keep["smartctl"] = {k: keep["smartctl"][k] for k in ("exit_status", "messages") if k in keep["smartctl"]}
        raw = json.dumps(keep, separators=(",", ":")).encode()
    put("smartctl_json", raw)
for p in sorted((fx / "hwraid").glob("*.json")):
    raw = p.read_bytes()
    put("storcli_json", raw if len(raw) <= CAP else json.dumps(json.loads(raw), separators=(",", ":")).encode())
for p in sorted((fx / "zimbra").glob("*")):
    put("zimbra_line", lines(p, 12))
    if p.name.startswith("varlog"):
        put("syslog_line", lines(p, 12))
for name in ("Linux_2k.log", "OpenSSH_2k.log"):
    p = SHARED / "corpus" / "loghub" / name
    if p.exists():
        put("syslog_line", lines(p, 20))
        body = p.read_bytes().splitlines()[:15]
        put("syslog_frames", bytes([0x34]) + b"\n".join(body) + b"\n")
        put("syslog_frames", bytes([0x07]) + b"".join(b"%d %s" % (len(l), l) for l in body))
# The mail corpus (tests/data/mail): postfix and amavis delivery lines, Zimbra's LMTP and mailop.
for host in ("mta1", "mta2"):
    put("syslog_line", lines(SHARED / "mail" / host / "zimbra.log", 20))
put("zimbra_line", lines(SHARED / "mail" / "mbox1" / "mailbox.log", 12))
put("syslog_line", b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\"] 'su root' failed\n")
put("syslog_frames", b"\x10<13>Mar 16 12:00:02 h app[1]: hello\r\n<13>x\n")

# Ingest: events as the agent ships them, plain, gzip and zstd.
agent = ROOT / "target" / "debug" / "logwarden-agent"
ndjson = subprocess.run([str(agent), "parse", str(fx / "zimbra" / "mailbox.log")], capture_output=True, check=True).stdout
evs = []
for i, l in enumerate(ndjson.splitlines()[:6]):
    e = json.loads(l)
    e["id"] = f"agent-1:{i + 1}"
    e.setdefault("host", "mbox1")
    e.setdefault("site", "phx")
    e.setdefault("kind", "log")
    evs.append(json.dumps(e).encode())
body = b"\n".join(evs) + b"\n"
put("ingest_ndjson", b"\x00" + body)
put("ingest_ndjson", b"\x01" + gzip.compress(body))
put("ingest_ndjson", b"\x02" + subprocess.run(["zstd", "-c", "-q"], input=body, capture_output=True, check=True).stdout)
put("ingest_ndjson", b"\x00" + evs[0] + b"\n{\"id\":\"x\"}\nnot json\n")

# Durable formats: the kept version 1 files, without their 16-byte segment header.
wal = (ROOT / "collector/src/wal/testdata/v1/00000000000000000001.wal").read_bytes()[16:]
put("wal_record", b"\x00" + wal)
put("wal_record", b"\x01" + wal[:40])
seg = (ROOT / "agent/src/spool/testdata/v1/00000000000000000001.seg").read_bytes()[16:]
put("spool_record", b"\x00" + seg)
put("spool_record", b"\x01" + seg[:60])

# Config files: the examples of docs/configuration.md and a few small ones.
doc = (ROOT / "docs" / "configuration.md").read_text()
blocks = doc.split("```toml\n")[1:]
for b in blocks:
    put("agent_config", b.split("```")[0].encode())
    put("collector_config", b.split("```")[0].encode())
put("collector_config", b'listen = "127.0.0.1:7070"\ntokens = ["t"]\n[limits]\nmax_lines = 10\n[syslog]\ntcp = "off"\n[alerts]\nadmin_tokens = ["a"]\n[[alerts.rules]]\nname = "r"\nquery = "app:sshd AND severity:err"\nthreshold = 3\n[[alerts.receivers]]\nname = "w"\ntype = "webhook"\nurl = "http://127.0.0.1:9/"\n')
put("agent_config", b'collectors = ["http://127.0.0.1:7070"]\nsite = "phx"\n[[files]]\npath = "/var/log/*.log"\nformat = "syslog"\nmultiline = "^\\\\s"\n[batch]\ncompression = "gzip"\n[health]\nmdstat = "/proc/mdstat"\n')
print("seeds:", {d.name: len(list(d.iterdir())) for d in sorted(OUT.iterdir())})
