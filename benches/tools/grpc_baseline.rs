//! The baseline for the gRPC benchmarks (`benches/grpc/run.sh`): a trivial tonic server on
//! Nacos' two gRPC services, answering fixed payloads without reading a request's body or
//! touching a registry. It is the floor of the stack (tonic, h2, prost, tokio), as
//! `http_baseline` is for HTTP; what nacre-server spends beyond it is nacre's own.
//!
//! `cargo bench --features grpc,server --bench grpc_baseline -- PORT SERVICE_INFO_FILE`
//!
//! - `/Request/request`: `ServerCheckRequest` and `HealthCheckRequest` answer as a server does;
//!   `InstanceRequest` answers a fixed `InstanceResponse`; `ServiceQueryRequest` a fixed
//!   `QueryServiceResponse` whose `serviceInfo` is the bytes of `SERVICE_INFO_FILE` (the run
//!   script saves nacre's answer for a service of the same instances there, so sizes match);
//!   `SubscribeServiceRequest` a `SubscribeServiceResponse` with the same `serviceInfo`.
//! - `/BiRequestStream/requestBiStream`: reads the client's messages and sends nothing.

#[path = "../support/cli.rs"]
mod cli;

/// nacre-server's allocator, so the floor allocates as nacre-server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use nacre::grpc::proto::Payload;
use nacre::grpc::{BI_STREAM_PATH, REQUEST_PATH};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::{http, Body, StdError};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

const OK: &str = r#""resultCode":200,"errorCode":0,"success":true,"message":"","requestId":"""#;

/// The fixed answers, by request kind.
struct Answers {
    check: Payload,
    health: Payload,
    instance: Payload,
    query: Payload,
    subscribe: Payload,
}

impl Answers {
    fn new(service_info: &[u8]) -> Self {
        let ok =
            |kind: &str, extra: &str| Payload::new(kind, format!("{{{OK}{extra}}}").into_bytes());
        let with_info = |kind: &str| {
            let mut body = format!("{{{OK},\"serviceInfo\":").into_bytes();
            body.extend_from_slice(service_info);
            body.push(b'}');
            Payload::new(kind, body)
        };
        Answers {
            check: ok("ServerCheckResponse", r#","connectionId":"baseline""#),
            health: ok("HealthCheckResponse", ""),
            instance: ok("InstanceResponse", r#","type":"registerInstance""#),
            query: with_info("QueryServiceResponse"),
            subscribe: with_info("SubscribeServiceResponse"),
        }
    }

    fn answer(&self, request: &Payload) -> Payload {
        match request.kind() {
            "ServerCheckRequest" => self.check.clone(),
            "HealthCheckRequest" => self.health.clone(),
            "InstanceRequest" => self.instance.clone(),
            "ServiceQueryRequest" => self.query.clone(),
            "SubscribeServiceRequest" => self.subscribe.clone(),
            _ => Payload::new(
                "ErrorResponse",
                br#"{"resultCode":500,"errorCode":302}"#.to_vec(),
            ),
        }
    }
}

#[derive(Clone)]
struct RequestService(Arc<Answers>);

#[derive(Clone)]
struct BiStreamService;

impl NamedService for RequestService {
    const NAME: &'static str = "Request";
}

impl NamedService for BiStreamService {
    const NAME: &'static str = "BiRequestStream";
}

struct Unary(Arc<Answers>);

impl tonic::server::UnaryService<Payload> for Unary {
    type Response = Payload;
    type Future = BoxFuture<Result<Response<Payload>, Status>>;

    fn call(&mut self, request: Request<Payload>) -> Self::Future {
        let answer = self.0.answer(request.get_ref());
        Box::pin(async move { Ok(Response::new(answer)) })
    }
}

struct Bidi;

type Silence = tokio_stream::wrappers::ReceiverStream<Result<Payload, Status>>;

impl tonic::server::StreamingService<Payload> for Bidi {
    type Response = Payload;
    type ResponseStream = Silence;
    type Future = BoxFuture<Result<Response<Silence>, Status>>;

    fn call(&mut self, request: Request<Streaming<Payload>>) -> Self::Future {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let mut inbound = request.into_inner();
            tokio::spawn(async move {
                // Held until the client's side ends, so the stream stays open as long.
                let _tx = tx;
                while let Ok(Some(_)) = inbound.message().await {}
            });
            Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
                rx,
            )))
        })
    }
}

fn grpc() -> tonic::server::Grpc<tonic_prost::ProstCodec<Payload, Payload>> {
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
}

fn unimplemented() -> http::Response<tonic::body::Body> {
    Status::unimplemented("no such method").into_http()
}

/// The `tower::Service` of a one-method gRPC service: `$path` goes to `$call` (an async
/// block over the request and the service's `$state`); any other path answers UNIMPLEMENTED.
macro_rules! one_method_service {
    ($service:ty, $path:expr, |$req:ident, $state:ident| $call:expr) => {
        impl<B> tonic::codegen::Service<http::Request<B>> for $service
        where
            B: Body + Send + 'static,
            B::Error: Into<StdError> + Send + 'static,
        {
            type Response = http::Response<tonic::body::Body>;
            type Error = Infallible;
            type Future = BoxFuture<Result<Self::Response, Infallible>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, $req: http::Request<B>) -> Self::Future {
                let $state = self.clone();
                Box::pin(async move {
                    if $req.uri().path() != $path {
                        return Ok(unimplemented());
                    }
                    Ok($call)
                })
            }
        }
    };
}

one_method_service!(RequestService, REQUEST_PATH, |req, service| grpc()
    .unary(Unary(service.0), req)
    .await);
one_method_service!(BiStreamService, BI_STREAM_PATH, |req, _service| grpc()
    .streaming(Bidi, req)
    .await);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = cli::args().into_iter();
    let (Some(port), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: grpc_baseline PORT SERVICE_INFO_FILE");
        return ExitCode::from(2);
    };
    let info = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("grpc_baseline: cannot read {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(addr) = format!("127.0.0.1:{port}").parse::<std::net::SocketAddr>() else {
        eprintln!("grpc_baseline: `{port}` is not a port");
        return ExitCode::from(2);
    };
    let answers = Arc::new(Answers::new(&info));
    let served = tonic::transport::Server::builder()
        .add_service(RequestService(answers))
        .add_service(BiStreamService)
        .serve(addr)
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc_baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
