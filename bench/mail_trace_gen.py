# bench/mail_trace.sh's input. Writes N messages' postfix+amavis syslog lines (13 lines each) spread over 2026-12-03, as
# newline-framed syslog for the collector's TCP intake.
import random, sys, datetime
random.seed(29)
n = int(sys.argv[1])
base = datetime.datetime(2026, 12, 3, tzinfo=datetime.timezone.utc)
out = sys.stdout
users = [f"user{i}@example.com" for i in range(5000)]
def ts(ms):
    return (base + datetime.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
def qid():
    return "%010X" % random.getrandbits(40)
for k in range(n):
    t = random.randrange(0, 86_000_000)
    q1, q2 = qid(), qid()
    mid = f"<g{k}.{random.getrandbits(32)}@sender{k % 97}.example.org>"
    s = f"s{k % 20000}@sender{k % 97}.example.org"
    r = random.choice(users)
    h = "mta1" if k % 2 else "mta3"
    L = [
        (t, "postfix/smtpd", f"{q1}: client=mail{k % 97}.example.org[203.0.113.{k % 250}]"),
        (t + 100, "postfix/cleanup", f"{q1}: message-id={mid}"),
        (t + 200, "postfix/qmgr", f"{q1}: from=<{s}>, size={1000 + k % 9000}, nrcpt=1 (queue active)"),
        (t + 1200, "postfix/amavisd/smtpd", f"{q2}: client=localhost[127.0.0.1]"),
        (t + 1250, "postfix/cleanup", f"{q2}: message-id={mid}"),
        (t + 1300, "postfix/qmgr", f"{q2}: from=<{s}>, size={1500 + k % 9000}, nrcpt=1 (queue active)"),
        (t + 1310, "amavis", f"({k % 99999:05d}-01) Passed CLEAN {{RelayedInbound}}, [203.0.113.{k % 250}]:4000 [203.0.113.{k % 250}] <{s}> -> <{r}>, Queue-ID: {q1}, Message-ID: {mid}, mail_id: m{k}, Hits: 0.1, size: 1000, queued_as: {q2}, 900 ms"),
        (t + 1320, "postfix/smtp", f"{q1}: to=<{r}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.3, delays=0.1/0/0/1.2, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {q2})"),
        (t + 1330, "postfix/qmgr", f"{q1}: removed"),
        (t + 1700, "postfix/lmtp", f"{q2}: to=<{r}>, relay=mbox{k % 4}.example.com[10.0.0.2]:7025, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.1.5, status=sent (250 2.1.5 Delivery OK)"),
        (t + 1710, "postfix/qmgr", f"{q2}: removed"),
        (t + 1800, "postfix/smtpd", f"disconnect from mail{k % 97}.example.org[203.0.113.{k % 250}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"),
        (t + 50, "postfix/smtpd", f"connect from mail{k % 97}.example.org[203.0.113.{k % 250}]"),
    ]
    for ms, app, msg in L:
        out.write(f"<22>{ts(ms)} {h} {app}[{1000 + k % 30000}]: {msg}\n")
