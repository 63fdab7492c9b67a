//! Lookup throughput against `retail-local`, beside a hello endpoint served the same way.
//!
//! `cargo run --release --bin bench-lookup -- [--seconds N] [--connections N]`
//!
//! Starts the release `retail-local` with `--bench-hello` on a free loopback port, then drives
//! first `GET /__bench/hello` and then single-sku lookups (`GET /stores/S001/commodities/{sku}`,
//! rotating over seeded skus) from N keep-alive connections for the given time each, and prints
//! requests per second and latency percentiles for both, and their ratio.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use retail_tests::{SpawnedApi, workspace_root};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

struct Run {
    requests: u64,
    non_200: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

async fn connection(addr: SocketAddr, paths: Arc<Vec<String>>, token: Arc<String>, offset: usize, until: Instant) -> (Histogram<u64>, u64) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut non_200 = 0;
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.expect("handshake");
    tokio::spawn(conn);
    let mut i = offset;
    while Instant::now() < until {
        let path = &paths[i % paths.len()];
        i += 1;
        let request = Request::get(path.as_str())
            .header("host", "127.0.0.1")
            .header("authorization", token.as_str())
            .body(Empty::<Bytes>::new())
            .expect("request");
        let start = Instant::now();
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let _ = response.into_body().collect().await.expect("body");
        hist.record(start.elapsed().as_micros().max(1) as u64).expect("record");
        if status != 200 {
            non_200 += 1;
        }
    }
    (hist, non_200)
}

async fn drive(addr: SocketAddr, paths: Vec<String>, token: &str, connections: usize, seconds: f64) -> Run {
    let paths = Arc::new(paths);
    let token = Arc::new(format!("Bearer {token}"));
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(connection(addr, paths.clone(), token.clone(), c * 7, until)))
        .collect();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut non_200 = 0;
    for t in tasks {
        let (h, n) = t.await.expect("task");
        latency_us.add(&h).expect("merge");
        non_200 += n;
    }
    Run { requests: latency_us.len(), non_200, elapsed: start.elapsed(), latency_us }
}

fn row(name: &str, r: &Run) -> f64 {
    let rps = r.requests as f64 / r.elapsed.as_secs_f64();
    let ms = |q: f64| r.latency_us.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name:<8} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8}",
        r.requests,
        rps,
        ms(0.50),
        ms(0.99),
        r.latency_us.max() as f64 / 1000.0,
        r.non_200
    );
    rps
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 10.0);
    let connections = arg("--connections", 64.0) as usize;
    assert!(seconds > 0.0 && connections > 0, "--seconds and --connections must be positive");

    let seed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("infra/seed/commodities.json")).expect("infra/seed/commodities.json"),
    )
    .expect("seed JSON");
    let skus: Vec<String> = seed.as_array().expect("a list").iter().take(200).map(|c| c["sku"].as_str().expect("sku").to_owned()).collect();
    let lookups: Vec<String> = skus.iter().map(|s| format!("/stores/S001/commodities/{s}")).collect();

    let api = SpawnedApi::spawn(&["--bench-hello"]);
    let token = api.token("pos", Some("S001"));
    let hello = vec!["/__bench/hello".to_owned()];

    eprintln!("warming up…");
    drive(api.addr, hello.clone(), &token, connections, 1.0).await;
    drive(api.addr, lookups.clone(), &token, connections, 1.0).await;

    println!(
        "retail-local, {connections} keep-alive connections on loopback, {seconds} s per route, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8}", "route", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "non-200");
    let h = drive(api.addr, hello, &token, connections, seconds).await;
    let hello_rps = row("hello", &h);
    let l = drive(api.addr, lookups, &token, connections, seconds).await;
    let lookup_rps = row("lookup", &l);
    let ratio = lookup_rps / hello_rps;
    let p99_ms = l.latency_us.value_at_quantile(0.99) as f64 / 1000.0;
    println!("lookup/hello throughput ratio: {ratio:.2} (target ≥ 0.33); lookup p99 {p99_ms:.2} ms (target < 10 ms)");
    println!(
        "targets: {}",
        if ratio >= 1.0 / 3.0 && p99_ms < 10.0 && l.non_200 == 0 && h.non_200 == 0 { "met" } else { "NOT met" }
    );
}
