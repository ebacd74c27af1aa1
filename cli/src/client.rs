//! Talking to the collector: one function per API call, every failure turned into one line
//! that says which server and what went wrong.

use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::wire::{
    ALERTS_PATH, AckRequest, AlertView, AlertsParams, AlertsResponse, COUNT_PATH, CountParams,
    CountResponse, ErrorBody, FLEET_PATH, FleetResponse, ForgetRequest, ForgetResponse,
    PROMOTE_PATH, PromoteParams, PromoteResponse, SEARCH_PATH, SILENCES_PATH, STATUS_PATH,
    SearchParams, SearchResponse, Silence, SilenceRequest, SilencesResponse, StatusResponse,
    TAIL_PATH, TailParams,
};
use logwarden_core::wire::{
    CONTEXT_PATH, ContextParams, ContextResponse, FIELDS_PATH, FieldsParams, FieldsResponse,
};
use reqwest::blocking::{Client as Http, Response};

/// A 404: the server holds no such thing (an event id, a position). Its text is the usual line
/// naming the server; `message` is the server's own words, for commands that exit 1 on it.
#[derive(Debug)]
pub struct NotFound {
    server: String,
    status: reqwest::StatusCode,
    pub message: String,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered {}: {}",
            self.server, self.status, self.message
        )
    }
}

impl std::error::Error for NotFound {}

pub struct Client {
    http: Http,
    /// For the live tail, which never ends: no overall timeout.
    stream: Http,
    base: reqwest::Url,
}

impl Client {
    pub fn new(
        server: &str,
        token: Option<String>,
        ca_file: Option<&std::path::Path>,
        // Client certificate and key (PEM), for a collector that demands mutual TLS.
        identity: Option<(&std::path::Path, &std::path::Path)>,
    ) -> anyhow::Result<Client> {
        let base = reqwest::Url::parse(server)
            .with_context(|| format!("server URL {server:?} is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("server URL {server:?}: scheme must be http or https");
        }
        let ca = match ca_file {
            Some(path) => logwarden_core::tls::read_ca_file(path)?
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("CA file {}", path.display()))?,
            None => Vec::new(),
        };
        // The token goes with every call: reads need a read (or admin) token once the collector
        // has one, acks and silences an admin token.
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .context("the token has characters not allowed in an HTTP header")?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let identity = match identity {
            Some((cert, key)) => {
                let pem = logwarden_core::tls::read_client_identity(cert, key)?;
                Some(reqwest::Identity::from_pem(&pem).with_context(|| {
                    format!(
                        "client certificate {} with key {}",
                        cert.display(),
                        key.display()
                    )
                })?)
            }
            None => None,
        };
        let builder = || {
            let b = Http::builder()
                .tls_certs_merge(ca.clone())
                .default_headers(headers.clone());
            match &identity {
                Some(id) => b.identity(id.clone()),
                None => b,
            }
        };
        let http = builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let stream = builder()
            .timeout(None)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Client { http, stream, base })
    }

    pub fn search(&self, params: &SearchParams) -> anyhow::Result<SearchResponse> {
        let url = self.base.join(SEARCH_PATH)?;
        let r: SearchResponse = self.read(self.http.get(url).query(params).send())?;
        crate::partial::record(&r.missing_partitions, &r.missing_reasons);
        Ok(r)
    }

    /// Streams events matching `q` that arrive after WAL position `after`, skipping `seen` ids,
    /// calling `each` for every one until the server ends the stream.
    pub fn follow(
        &self,
        q: &str,
        after: u64,
        mut seen: std::collections::HashSet<logwarden_core::EventId>,
        mut each: impl FnMut(&logwarden_core::Event) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        use std::io::BufRead;
        let server = self.base.as_str().trim_end_matches('/');
        let url = self.base.join(TAIL_PATH)?;
        let params = TailParams {
            q: q.to_owned(),
            after: Some(after),
        };
        let resp = self.stream.get(url).query(&params).send();
        let resp = self.check(resp)?;
        for line in std::io::BufReader::new(resp).lines() {
            let line = line.with_context(|| format!("lost the live tail from {server}"))?;
            if line.trim().is_empty() {
                continue; // keep-alive
            }
            let event: logwarden_core::Event = serde_json::from_str(&line)
                .with_context(|| format!("{server} sent a line this CLI cannot read"))?;
            if seen.remove(&event.id) {
                continue; // already printed from the search
            }
            each(&event)?;
        }
        anyhow::bail!(
            "{server} ended the live tail (collector stopping? in a cluster, a partition moved: run it again)"
        )
    }

    pub fn trace(
        &self,
        params: &logwarden_core::trace::TraceParams,
    ) -> anyhow::Result<logwarden_core::trace::TraceResponse> {
        let url = self.base.join(logwarden_core::trace::TRACE_PATH)?;
        self.read(self.http.get(url).query(params).send())
    }

    pub fn context(&self, params: &ContextParams) -> anyhow::Result<ContextResponse> {
        let url = self.base.join(CONTEXT_PATH)?;
        self.read(self.http.get(url).query(params).send())
    }

    pub fn fields(&self, params: &FieldsParams) -> anyhow::Result<FieldsResponse> {
        let url = self.base.join(FIELDS_PATH)?;
        let r: FieldsResponse = self.read(self.http.get(url).query(params).send())?;
        crate::partial::record(&r.missing_partitions, &r.missing_reasons);
        Ok(r)
    }

    pub fn count(&self, params: &CountParams) -> anyhow::Result<CountResponse> {
        let url = self.base.join(COUNT_PATH)?;
        let r: CountResponse = self.read(self.http.get(url).query(params).send())?;
        crate::partial::record(&r.missing_partitions, &r.missing_reasons);
        if let Some(n) = r.unlisted_up_to {
            eprintln!(
                "logwarden: the counts listed are exact, but a value not listed may have up to {n} events, more than the last listed: raise --limit for a sure list"
            );
        }
        Ok(r)
    }

    pub fn fleet(&self) -> anyhow::Result<FleetResponse> {
        let url = self.base.join(FLEET_PATH)?;
        let r: FleetResponse = self.read(self.http.get(url).send())?;
        crate::partial::record(&r.missing_partitions, &r.missing_reasons);
        Ok(r)
    }

    pub fn status(&self) -> anyhow::Result<StatusResponse> {
        let url = self.base.join(STATUS_PATH)?;
        self.read(self.http.get(url).send())
    }

    /// `POST /api/v1/promote`: may wait for the standby to catch up, hence the long timeout.
    pub fn promote(&self, force: bool) -> anyhow::Result<PromoteResponse> {
        let url = self.base.join(PROMOTE_PATH)?;
        let req = self
            .http
            .post(url)
            .query(&PromoteParams { force })
            .timeout(std::time::Duration::from_secs(120));
        self.read(req.send())
    }

    pub fn alerts(&self, all: bool) -> anyhow::Result<AlertsResponse> {
        let url = self.base.join(ALERTS_PATH)?;
        self.read(self.http.get(url).query(&AlertsParams { all }).send())
    }

    pub fn ack(&self, id: &str, req: &AckRequest) -> anyhow::Result<AlertView> {
        let url = self.base.join(&format!("{ALERTS_PATH}/{id}/ack"))?;
        self.read(self.http.post(url).json(req).send())
    }

    pub fn forget(&self, host: &str, req: &ForgetRequest) -> anyhow::Result<ForgetResponse> {
        let mut url = self.base.join(FLEET_PATH)?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot take a path", self.base))?
            .push(host)
            .push("forget");
        self.read(self.http.post(url).json(req).send())
    }

    pub fn silences(&self) -> anyhow::Result<SilencesResponse> {
        let url = self.base.join(SILENCES_PATH)?;
        self.read(self.http.get(url).send())
    }

    pub fn add_silence(&self, req: &SilenceRequest) -> anyhow::Result<Silence> {
        let url = self.base.join(SILENCES_PATH)?;
        self.read(self.http.post(url).json(req).send())
    }

    /// `logwarden alerts test`.
    pub fn test_alert(
        &self,
        req: &logwarden_core::wire::TestAlertRequest,
    ) -> anyhow::Result<logwarden_core::wire::TestAlertResponse> {
        let url = self.base.join(logwarden_core::wire::ALERTS_TEST_PATH)?;
        self.read(self.http.post(url).json(req).send())
    }

    pub fn expire_silence(&self, id: &str) -> anyhow::Result<Silence> {
        let url = self.base.join(&format!("{SILENCES_PATH}/{id}"))?;
        self.read(self.http.delete(url).send())
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        sent: reqwest::Result<Response>,
    ) -> anyhow::Result<T> {
        let server = self.base.as_str().trim_end_matches('/');
        let resp = self.check(sent)?;
        let bytes = resp
            .bytes()
            .with_context(|| format!("reading the answer of {server}"))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{server} sent an answer this CLI cannot read"))
    }

    /// A successful response, or one line saying which server failed and how.
    fn check(&self, sent: reqwest::Result<Response>) -> anyhow::Result<Response> {
        let server = self.base.as_str().trim_end_matches('/');
        let resp = sent.map_err(|e| {
            // The innermost cause says what really happened (refused, certificate, DNS).
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            let why = if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                format!(
                    "{cause}; is the collector running there? (set --server or LOGWARDEN_SERVER)"
                )
            } else {
                cause.to_string()
            };
            anyhow::anyhow!("cannot reach {server}: {why}")
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().unwrap_or_default();
        let msg = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(NotFound {
                server: server.to_owned(),
                status,
                message: msg,
            }
            .into());
        }
        bail!("{server} answered {status}: {msg}")
    }
}
