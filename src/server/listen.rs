//! The HTTP server's own accept loop, so that a flood of connections cannot starve it
//! (docs/security.md, "Resource limits"): each connection must send its request headers (and
//! finish its TLS handshake) within `header_read_timeout`; at most `max_connections` are open,
//! and past that the oldest idle one (no request in progress: half-sent headers, keep-alive)
//! is closed to make room, or, when every one is busy, the new one gets a short 503 and is
//! closed. Upgraded WebSockets leave this count for their own (`live::Streams`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::HttpConfig;
use crate::orchestrator::http::guard::ServedAt;

/// How long open connections get to finish their requests at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` (with TLS when `tls` is given) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpConfig,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let served = ServedAt {
        port: listener.local_addr()?.port(),
        tls: tls.is_some(),
    };
    let connections = Arc::new(Connections::default());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait for some to close.
                        tracing::warn!("cannot accept a connection: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Some((id, close)) = connections.admit(limits.max_connections) else {
                    tasks.spawn(refuse_busy(stream));
                    continue;
                };
                let connection = Connection {
                    app: app.clone(),
                    served,
                    header_read_timeout: limits.header_read_timeout,
                    connections: connections.clone(),
                    id,
                };
                tasks.spawn(connection.run(stream, tls.clone(), close, stopping.clone()));
            }
        }
    }
    let _ = stop.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("closing connections still open {DRAIN:?} after shutdown began");
    }
    Ok(())
}

/// The open connections, oldest first, each busy (a request in progress) or idle.
#[derive(Debug, Default)]
struct Connections {
    inner: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    by_age: BTreeMap<u64, Slot>,
}

#[derive(Debug)]
struct Slot {
    busy: bool,
    /// Closes the connection (dropped: it was evicted).
    close: oneshot::Sender<()>,
}

impl Connections {
    /// A place for a new connection, making room by closing the oldest idle one at the cap;
    /// `None` when every open connection is busy.
    fn admit(&self, max: usize) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut open = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if open.by_age.len() >= max {
            let oldest_idle = open
                .by_age
                .iter()
                .find(|(_, slot)| !slot.busy)
                .map(|(id, _)| *id)?;
            if let Some(slot) = open.by_age.remove(&oldest_idle) {
                let _ = slot.close.send(());
            }
        }
        let id = open.next;
        open.next += 1;
        let (close, closed) = oneshot::channel();
        open.by_age.insert(id, Slot { busy: false, close });
        Some((id, closed))
    }

    fn set_busy(&self, id: u64, busy: bool) {
        let mut open = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = open.by_age.get_mut(&id) {
            slot.busy = busy;
        }
    }

    fn remove(&self, id: u64) {
        let mut open = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        open.by_age.remove(&id);
    }
}

/// Marks a connection idle again when its request's answer is ready (or the request is
/// dropped).
struct Busy {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.set_busy(self.id, false);
    }
}

/// One accepted connection and what it needs to serve itself.
struct Connection {
    app: Router,
    served: ServedAt,
    header_read_timeout: Duration,
    connections: Arc<Connections>,
    id: u64,
}

impl Connection {
    async fn run(
        self,
        stream: tokio::net::TcpStream,
        tls: Option<TlsAcceptor>,
        close: oneshot::Receiver<()>,
        stopping: watch::Receiver<bool>,
    ) {
        let (connections, id) = (self.connections.clone(), self.id);
        match tls {
            None => self.http(stream, close, stopping).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.header_read_timeout, acceptor.accept(stream)).await
                {
                    Ok(Ok(stream)) => self.http(stream, close, stopping).await,
                    Ok(Err(error)) => tracing::debug!("a TLS handshake failed: {error}"),
                    Err(_) => tracing::debug!("a TLS handshake took too long"),
                }
            }
        }
        connections.remove(id);
    }

    async fn http<I>(self, io: I, close: oneshot::Receiver<()>, mut stopping: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            app,
            served,
            header_read_timeout,
            connections,
            id,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(served);
            connections.set_busy(id, true);
            let busy = Busy {
                connections: connections.clone(),
                id,
            };
            let mut app = app.clone();
            async move {
                let response =
                    tower_service::Service::call(&mut app, request.map(axum::body::Body::new))
                        .await;
                drop(busy);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        tokio::select! {
            outcome = connection.as_mut() => {
                if let Err(error) = outcome {
                    tracing::debug!("a connection ended: {error}");
                }
            }
            // Evicted to make room (it was idle): dropping it closes the socket.
            _ = close => {}
            _ = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// Tells a connection that came when every open one was busy to come back later.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    let body = serde_json::to_string(&crate::api::ErrorBody {
        error: crate::api::ErrorDetail {
            code: crate::api::ErrorCode::ServerBusy,
            message: "the server has as many connections as it allows (`max_connections` under [http]), all busy; try again shortly".to_owned(),
        },
    })
    .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The TLS acceptor for `--tls-cert`/`--tls-key`: a PEM certificate chain and its key.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| {
            format!(
                "cannot read the TLS certificate {} (a PEM file)",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read the TLS key {} (a PEM private key)",
            key.display()
        )
    })?;
    // The provider is named rather than taken from the process default, so another TLS user
    // in the binary cannot make this ambiguous; aws-lc-rs is the one the LLM and RabbitMQ
    // clients use too, so the binary carries one crypto library.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS library refused its own defaults")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS key does not fit the certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
