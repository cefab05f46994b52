//! The floor under the gateway's figures: pingora proxying every request to
//! one upstream with nothing else (no session, no policy, no headers, no
//! metrics), on the same event-loop setup as `portcullis serve`. `bench/gateway.sh`
//! runs it beside nginx so the table shows how much of the distance to nginx
//! is pingora's own and how much is Portcullis'.
//!
//!   bare_proxy LISTEN UPSTREAM [THREADS]

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::services::{ServiceReadyNotifier, ServiceWithDependents};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_proxy LISTEN UPSTREAM [THREADS]");
        std::process::exit(2);
    };
    let upstream: SocketAddr = match upstream.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare_proxy: UPSTREAM: {e}");
            std::process::exit(2);
        }
    };
    let threads = args
        .get(3)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let conf = std::sync::Arc::new(ServerConf::default());
    let mut service = pingora::proxy::http_proxy_service(&conf, Bare { upstream });
    service.add_tcp(listen);
    let runtime = pingora_runtime::Runtime::new_no_steal(threads, "bare-proxy");
    let (_shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, _ready_rx) = tokio::sync::watch::channel(false);
    let done = runtime.get_handle().spawn(async move {
        ServiceWithDependents::start_service(
            &mut service,
            None,
            shutdown_rx,
            1,
            ServiceReadyNotifier::new(ready_tx),
        )
        .await;
    });
    // Runs until killed; the bench stops it with SIGTERM.
    let main = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime to wait on");
    let _ = main.block_on(done);
}
