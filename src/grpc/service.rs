//! The tonic services, written by hand as `protoc` would generate them (no build step):
//! [`RequestService`] answers `/Request/request`, [`BiStreamService`] answers
//! `/BiRequestStream/requestBiStream`. Both are thin: they hand each call to
//! [`GrpcFront`].

use super::outbound::OutboundStream;
use super::proto::Payload;
use super::server::GrpcFront;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codec::BufferSettings;
use tonic::codegen::{http, Body, StdError};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The full path of the unary call.
pub const REQUEST_PATH: &str = "/Request/request";
/// The full path of the bi-stream.
pub const BI_STREAM_PATH: &str = "/BiRequestStream/requestBiStream";

/// Nacos' largest message (10 MiB): the bound on what the server sends. What it reads is
/// bounded by [`crate::grpc::GrpcConfig::max_request_bytes`] and
/// [`crate::grpc::GrpcConfig::max_stream_message_bytes`].
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

fn unimplemented() -> http::Response<tonic::body::Body> {
    Status::unimplemented("no such method").into_http()
}

/// `service Request { rpc request(Payload) returns (Payload); }`
#[derive(Debug, Clone)]
pub struct RequestService {
    front: GrpcFront,
}

/// `service BiRequestStream { rpc requestBiStream(stream Payload) returns (stream Payload); }`
#[derive(Debug, Clone)]
pub struct BiStreamService {
    front: GrpcFront,
}

impl GrpcFront {
    /// The `Request` service, to add to a tonic server.
    pub fn request_service(&self) -> RequestService {
        RequestService {
            front: self.clone(),
        }
    }

    /// The `BiRequestStream` service, to add to a tonic server.
    pub fn bi_stream_service(&self) -> BiStreamService {
        BiStreamService {
            front: self.clone(),
        }
    }
}

impl NamedService for RequestService {
    const NAME: &'static str = "Request";
}

impl NamedService for BiStreamService {
    const NAME: &'static str = "BiRequestStream";
}

struct Unary(GrpcFront);

impl tonic::server::UnaryService<Payload> for Unary {
    type Response = Payload;
    type Future = BoxFuture<Result<Response<Payload>, Status>>;

    fn call(&mut self, request: Request<Payload>) -> Self::Future {
        let front = self.0.clone();
        Box::pin(async move {
            let addr = request.remote_addr();
            Ok(Response::new(
                front.request(addr, request.into_inner()).await,
            ))
        })
    }
}

struct Bidi(GrpcFront);

impl tonic::server::StreamingService<Payload> for Bidi {
    type Response = Payload;
    type ResponseStream = OutboundStream;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Payload>>) -> Self::Future {
        let front = self.0.clone();
        Box::pin(async move {
            let Some(addr) = request.remote_addr() else {
                return Err(Status::failed_precondition(
                    "the server gives no peer address, so the connection cannot be named",
                ));
            };
            let (rx, guard) = front.open_stream(addr)?;
            let mut inbound = request.into_inner();
            tokio::spawn(async move {
                // The guard closes the connection when the client's side ends or breaks.
                let _guard = guard;
                while let Ok(Some(payload)) = inbound.message().await {
                    front.on_stream_message(addr, &payload);
                }
            });
            Ok(Response::new(rx))
        })
    }
}

/// The codec: messages read up to `max_read` bytes (a larger one is refused from its length
/// prefix, before its body is buffered), sent up to Nacos' 10 MiB, through buffers that start
/// at `buffer` bytes (they grow to fit a larger message).
fn grpc(max_read: usize, buffer: usize) -> tonic::server::Grpc<PayloadCodec> {
    tonic::server::Grpc::new(PayloadCodec(BufferSettings::new(buffer, YIELD_THRESHOLD)))
        .max_decoding_message_size(max_read)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// How much an encoder buffers before it hands its bytes on (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;
/// The first size of a unary call's buffers: tonic's default, 8 KiB. They live for one call.
const UNARY_BUFFER: usize = 8 * 1024;
/// The first size of a bi-stream's two buffers (the client's messages, and pushes to it).
/// They live as long as the connection, which mostly idles: at tonic's 8 KiB each they were a
/// quarter of the memory an idle subscribed connection held. A push larger than this grows
/// the buffer for the time it is written.
const STREAM_BUFFER: usize = 1024;

/// Prost's codec for [`Payload`], with the buffer sizes above (tonic's own `ProstCodec`
/// always starts at 8 KiB).
#[derive(Debug, Clone, Copy)]
struct PayloadCodec(BufferSettings);

impl tonic::codec::Codec for PayloadCodec {
    type Encode = Payload;
    type Decode = Payload;
    type Encoder = tonic_prost::ProstEncoder<Payload>;
    type Decoder = tonic_prost::ProstDecoder<Payload>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(self.0)
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::new(self.0)
    }
}

/// The `tower::Service` of a one-method gRPC service: `$path` goes to `$method` through
/// `tonic::server::Grpc::$call`; any other path answers `UNIMPLEMENTED`.
macro_rules! one_method_service {
    ($service:ident, $path:expr, $method:ident, $call:ident, $max_read:ident, $buffer:expr) => {
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

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                if req.uri().path() != $path {
                    return Box::pin(async { Ok(unimplemented()) });
                }
                let max_read = self.front.shared.config.$max_read;
                let method = $method(self.front.clone());
                Box::pin(async move { Ok(grpc(max_read, $buffer).$call(method, req).await) })
            }
        }
    };
}

one_method_service!(
    RequestService,
    REQUEST_PATH,
    Unary,
    unary,
    max_request_bytes,
    UNARY_BUFFER
);
one_method_service!(
    BiStreamService,
    BI_STREAM_PATH,
    Bidi,
    streaming,
    max_stream_message_bytes,
    STREAM_BUFFER
);
