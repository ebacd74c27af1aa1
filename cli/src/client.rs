//! Talking to the collector: one function per API call, every failure turned into one line
//! that says which server and what went wrong.

use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::wire::{
    ALERTS_PATH, AckRequest, AlertView, AlertsParams, AlertsResponse, ErrorBody, SEARCH_PATH,
    SILENCES_PATH, STATUS_PATH, SearchParams, SearchResponse, Silence, SilenceRequest,
    SilencesResponse, StatusResponse,
};
use reqwest::blocking::{Client as Http, Response};

pub struct Client {
    http: Http,
    base: reqwest::Url,
    /// Bearer token for acks and silences.
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Client> {
        let base = reqwest::Url::parse(server)
            .with_context(|| format!("server URL {server:?} is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("server URL {server:?}: scheme must be http or https");
        }
        let http = Http::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Client { http, base, token })
    }

    pub fn search(&self, params: &SearchParams) -> anyhow::Result<SearchResponse> {
        let url = self.base.join(SEARCH_PATH)?;
        self.read(self.http.get(url).query(params).send())
    }

    pub fn status(&self) -> anyhow::Result<StatusResponse> {
        let url = self.base.join(STATUS_PATH)?;
        self.read(self.http.get(url).send())
    }

    pub fn alerts(&self, all: bool) -> anyhow::Result<AlertsResponse> {
        let url = self.base.join(ALERTS_PATH)?;
        self.read(self.http.get(url).query(&AlertsParams { all }).send())
    }

    fn authed(&self, req: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub fn ack(&self, id: &str, req: &AckRequest) -> anyhow::Result<AlertView> {
        let url = self.base.join(&format!("{ALERTS_PATH}/{id}/ack"))?;
        self.read(self.authed(self.http.post(url)).json(req).send())
    }

    pub fn silences(&self) -> anyhow::Result<SilencesResponse> {
        let url = self.base.join(SILENCES_PATH)?;
        self.read(self.http.get(url).send())
    }

    pub fn add_silence(&self, req: &SilenceRequest) -> anyhow::Result<Silence> {
        let url = self.base.join(SILENCES_PATH)?;
        self.read(self.authed(self.http.post(url)).json(req).send())
    }

    pub fn expire_silence(&self, id: &str) -> anyhow::Result<Silence> {
        let url = self.base.join(&format!("{SILENCES_PATH}/{id}"))?;
        self.read(self.authed(self.http.delete(url)).send())
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        sent: reqwest::Result<Response>,
    ) -> anyhow::Result<T> {
        let server = self.base.as_str().trim_end_matches('/');
        let resp = sent.map_err(|e| {
            let why = if e.is_connect() {
                "connection refused or unreachable; is the collector running? (set --server or LOGWARDEN_SERVER)".to_owned()
            } else if e.is_timeout() {
                "timed out".to_owned()
            } else {
                e.to_string()
            };
            anyhow::anyhow!("cannot reach {server}: {why}")
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .with_context(|| format!("reading the answer of {server}"))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
            bail!("{server} answered {status}: {msg}");
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{server} sent an answer this CLI cannot read"))
    }
}
