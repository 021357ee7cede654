//! [`Raw`]: a bare Nacos 2.x gRPC connection for tests (feature `grpc`), one message at a
//! time: what no client library would send, or what a test wants to see on the wire.

use nacre::grpc::proto::Payload;
use nacre::grpc::{BI_STREAM_PATH, REQUEST_PATH};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long [`Raw::setup`] waits for the server to read the setup.
const WAIT: Duration = Duration::from_secs(10);

/// One raw connection: a channel, and (after [`Raw::setup`]) its bi-stream.
pub(crate) struct Raw {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
    _stream: Option<tokio::sync::mpsc::Sender<Payload>>,
    /// What the server sends on the bi-stream.
    inbound: Option<tonic::Streaming<Payload>>,
}

impl Raw {
    /// A plaintext connection to `addr`.
    pub(crate) async fn open(addr: SocketAddr) -> Raw {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Raw::over(channel)
    }

    /// A connection over `channel` (made by the test: over TLS, say).
    pub(crate) fn over(channel: tonic::transport::Channel) -> Raw {
        Raw {
            grpc: tonic::client::Grpc::new(channel),
            _stream: None,
            inbound: None,
        }
    }

    /// Opens the bi-stream and sends the `ConnectionSetupRequest`.
    pub(crate) async fn setup(&mut self) {
        self.setup_with(br#"{"clientVersion":"raw","tenant":"","labels":{}}"#.to_vec())
            .await;
    }

    /// Opens the bi-stream and sends `setup` as the `ConnectionSetupRequest`.
    pub(crate) async fn setup_with(&mut self, setup: Vec<u8>) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tx.send(Payload::new("ConnectionSetupRequest", setup))
            .await
            .unwrap();
        self.grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(BI_STREAM_PATH);
        let inbound = self
            .grpc
            .streaming(
                tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
                path,
                codec,
            )
            .await
            .unwrap()
            .into_inner();
        self._stream = Some(tx);
        self.inbound = Some(inbound);
        // The server registers the connection when it reads the setup.
        let deadline = Instant::now() + WAIT;
        while self.call("HealthCheckRequest", "{}").await.kind() != "HealthCheckResponse" {
            assert!(Instant::now() < deadline, "the setup was never read");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The next message the server sends on the bi-stream, if one comes within `wait`.
    pub(crate) async fn next_sent(&mut self, wait: Duration) -> Option<Payload> {
        let inbound = self.inbound.as_mut()?;
        match tokio::time::timeout(wait, inbound.message()).await {
            Ok(Ok(message)) => message,
            _ => None,
        }
    }

    /// Sends a `kind` request with body `json`; the answer.
    pub(crate) async fn call(&mut self, kind: &str, json: &str) -> Payload {
        self.send(Payload::new(kind, json.as_bytes().to_vec()))
            .await
    }

    /// Sends `payload`; the answer.
    pub(crate) async fn send(&mut self, payload: Payload) -> Payload {
        self.grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(REQUEST_PATH);
        self.grpc
            .unary(tonic::Request::new(payload), path, codec)
            .await
            .unwrap()
            .into_inner()
    }
}
