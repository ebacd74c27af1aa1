//! Property tests: no input panics any parser. Arbitrary bytes, and real lines cut and mangled
//! at random places (which is what reaches the deep branches: a header that ends half-way, a
//! multi-byte character where a digit was expected), for every format, one line and
//! multi-line records alike. Every result keeps the source.

use std::path::Path;

use logwarden_parse::{Format, LineParser, ParseOptions, Zone};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "2015-12-05 18:47:36,435 INFO  [qtp1545357780-7135140:http://127.0.0.1:80/service/soap/AuthRequest] [name=pepe@domain.com;oip=10.1.2.123;ua=zclient/2.0.5_GA_1839;] security - cmd=Auth; account=pepe@domain.com; protocol=soap;",
    "2013-07-18 15:22:01,495 INFO [btpool0-4361://localhost/service/soap/MsgActionRequest [name=user@domain.com;mid=2538;] mailop - moving",
    "2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:DOS ALERT:ip=127.0.1.1,session=null,user=null",
    "Mar 16 12:00:02 SRV03-BF65 zimbramon[12877]: 12877:info: 2015-03-16 12:00:02, QUEUE: 0 0",
    "Sep  5 08:34:06 mail zimbramon[27690]: 27690:info: 2019-09-05 08:34:01, STATUS: mail.example.com: mta: Running",
    "Jan 13 07:15:18 mail zimbramon[31338]: 31338:info: zmmtaconfig: gacf ERROR: service.FAILURE (system failure: ZimbraLdapContext) (cause: javax.naming.CommunicationException gauss.domain.com:389)",
    "Jan 13 07:15:18 mail zimbramon[1]: 1:crit: Disk warning: h: /opt on device /dev/sda3 at 95%",
    "Mar 26 21:38:26 mta-in-01 saslauthd[29157]: auth_zimbra: a@example.com auth failed: x",
    "Mar 16 12:00:02 h postfix/smtpd[1]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: x",
    "<165>1 2003-10-11T22:14:15.003Z host app 1234 ID47 [id@1 a=\"1\"] msg",
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
    "2024-05-01T10:00:00.123456+02:00 mbox3 slapd[7019]: slapd starting",
    "2026-12-04T10:00:02.020000+00:00 mta1 postfix/smtp[2011]: 4A1B2C3D01: to=<bob@example.com>, orig_to=<b@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.4, delays=0.1/0/0.01/1.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7C1D2E3F02)",
    "Dec  4 10:00:00 mta1 postfix/qmgr[1500]: 4A1B2C3D01: from=<alice@sender.example.org>, size=1834, nrcpt=1 (queue active)",
    "Dec  4 10:00:00 mta1 postfix/smtpd[2002]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@y>: Relay access denied; from=<a@b> to=<x@y> proto=ESMTP helo=<h>",
    "Dec  4 10:20:01 mta2 postfix/bounce[4013]: 7D2B3C4D08: sender non-delivery notification: 8E3C4D5E09",
    "Dec  4 10:00:00 mta1 postfix/postscreen[2001]: CONNECT from [203.0.113.5]:40712 to [192.0.2.10]:25",
    "Dec  4 10:00:02 mta1 amavis[3001]: (03001-01) Passed CLEAN {RelayedInbound}, [203.0.113.5]:40712 [203.0.113.5] <a@b> -> <c@d>,<e@f>, Queue-ID: 4A1B2C3D01, Message-ID: <a1@b>, mail_id: Q, Hits: -1.9, size: 1834, queued_as: 7C1D2E3F02, 1310 ms",
    "2026-12-04 10:00:02,150 INFO  [LmtpServer-3] [ip=10.0.0.11;] lmtp - Delivering message: size=2410 bytes, nrcpts=1, sender=a@b, msgid=<a1@b>",
    "2026-12-04 10:00:02,240 INFO  [LmtpServer-3] [name=bob@example.com;mid=7;] mailop - Adding Message: id=301, Message-ID=<a1@b>, parentId=-1, folderId=2, folderName=Inbox.",
    "2026-12-04 10:04:58,120 INFO  [qtp1-211:https://x/service/soap/SendMsgRequest] [name=bob@example.com;] smtp - Sending message to MTA at mta2.example.com, port 25: Message-ID=<c3@x>, replyType=r",
    "203.0.113.7:51234 - - [15/Jan/2021:15:57:32 +0100]  \"POST /service/soap HTTP/1.1\" 200 1167 \"-\" \"ua\" \"10.0.0.5:8443\"",
];

const FORMATS: [Format; 5] = [
    Format::Auto,
    Format::Zimbra,
    Format::Syslog,
    Format::Nginx,
    Format::Plain,
];

fn parse_all(bytes: &[u8]) {
    for (format, path) in FORMATS.iter().flat_map(|f| {
        [
            "/opt/zimbra/log/mailbox.log",
            "/var/log/zimbra.log",
            "/opt/zimbra/log/nginx.access.log",
            "/tmp/x",
        ]
        .map(|p| (*f, p))
    }) {
        let mut p = LineParser::with_options(
            Path::new(path),
            format,
            &ParseOptions {
                zone: Zone::Local,
                reference: None,
                ..ParseOptions::default()
            },
        );
        let _ = p.starts_record(bytes);
        let d = p.parse(bytes);
        assert_eq!(d.source, path);
    }
}

/// A seed line cut at `cut`, with `byte` written at `at` and `insert` put in at `at2`.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(i, cut, at, byte, at2, insert)| {
            let mut b = SEEDS[i].as_bytes().to_vec();
            b.truncate(cut.index(b.len() + 1));
            if !b.is_empty() {
                let at = at.index(b.len());
                b[at] = byte;
            }
            let at2 = at2.index(b.len() + 1);
            b.splice(at2..at2, insert);
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        parse_all(&bytes);
    }

    #[test]
    fn mangled_real_lines_never_panic_any_parser(bytes in mangled()) {
        parse_all(&bytes);
    }

    #[test]
    fn mangled_multiline_records_never_panic_any_parser(a in mangled(), b in mangled()) {
        let mut rec = a;
        rec.push(b'\n');
        rec.extend_from_slice(&b);
        parse_all(&rec);
    }
}
