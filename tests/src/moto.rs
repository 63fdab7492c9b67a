//! moto's DynamoDB server for the suites (tests/tools/moto_server.py): started from the venv `tests/run.sh` installs
//! (`$RETAIL_VENV`, else `target/venv`) on a free loopback port, stopped when dropped. Tables
//! come from template.yaml, under a fresh name prefix per store, so tests never share data.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use retail_core::store::dynamo::{DynamoStore, Tables, endpoint_config};

use crate::{free_port, workspace_root};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// Where the suites' Python tools live.
pub fn venv() -> PathBuf {
    std::env::var("RETAIL_VENV").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target").join("venv"))
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// The same, recording every request's IAM actions into `file` (one JSON line each; see
    /// `MOTO_RECORD_CALLS` in tests/tools/moto_server.py).
    pub fn start_recording(file: &std::path::Path) -> Moto {
        Self::start_with(&[("MOTO_RECORD_CALLS", file.as_os_str())])
    }

    fn start_with(env: &[(&str, &std::ffi::OsStr)]) -> Moto {
        // moto run one request at a time (tests/tools/moto_server.py says why).
        let python = venv().join("bin").join("python");
        assert!(
            venv().join("bin").join("moto_server").exists(),
            "moto is missing from {}: run `bash tests/run.sh`, or `target/venv/bin/pip install -r tests/requirements.txt`",
            venv().display()
        );
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let child = Command::new(python)
            .arg(workspace_root().join("tests").join("tools").join("moto_server.py"))
            .args(["127.0.0.1", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let mut moto = Moto { child, endpoint: format!("http://{addr}") };
        wait_listening(&mut moto.child, addr, "moto", Duration::from_secs(60));
        moto
    }

    /// A store on fresh tables created from template.yaml.
    pub async fn store(&self) -> DynamoStore {
        self.store_with(endpoint_config(&self.endpoint)).await
    }

    /// The same, on a client built from `config` (tests add interceptors to it).
    pub async fn store_with(&self, config: aws_sdk_dynamodb::config::Builder) -> DynamoStore {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("t{}-{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), Tables::with_prefix(&prefix));
        let template = retail_local::template::Template::load(&workspace_root().join("template.yaml"))
            .expect("template.yaml parses");
        let created = store.create_missing_tables(&template.tables).await.expect("tables are created");
        assert_eq!(created.len(), retail_core::store::dynamo::Table::ALL.len(), "every table is new: {created:?}");
        store.check_tables().await.expect("every table exists");
        store
    }
}

/// The fault layer of the drills (tests/tools/fault_proxy.py): a loopback proxy in front of a
/// DynamoDB endpoint that throttles, delays, fails with 500s or applies a write and drops its
/// answer, at rates set through `control` (all zero until set). Stopped when dropped.
pub struct FaultProxy {
    child: Child,
    /// Where the functions send their DynamoDB requests instead.
    pub endpoint: String,
    /// `POST` {"throttle", "delay", "error", "lost", "delay_ms"} sets the rates; `GET` reads
    /// them and how many of each were injected.
    pub control: String,
}

impl FaultProxy {
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let child = Command::new(venv().join("bin").join("python"))
            .arg(workspace_root().join("tests").join("tools").join("fault_proxy.py"))
            .args([port.to_string(), upstream.to_owned(), seed.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the fault proxy starts");
        let mut proxy = FaultProxy { child, endpoint: format!("http://{addr}"), control: format!("http://{addr}/__faults") };
        wait_listening(&mut proxy.child, addr, "the fault proxy", Duration::from_secs(30));
        proxy
    }
}

/// Waits until a server `child` started listens on `addr`; panics if it exits or takes too long.
fn wait_listening(child: &mut Child, addr: SocketAddr, what: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        assert!(start.elapsed() < limit, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Store S001 and `commodities` (each sku with its stock policy, no stock yet), each priced 1299
/// across the chain since 2020: what a till sells.
pub async fn stock_a_store(
    store: &DynamoStore,
    commodities: &[(&str, retail_core::domain::StockPolicy)],
) -> retail_core::domain::Store {
    use chrono::{TimeZone, Utc};
    use retail_core::domain::catalog::CommodityDraft;
    use retail_core::domain::price::{AdjustmentId, PriceScope};
    use retail_core::domain::{BatchId, Commodity, Money, PriceAdjustment, RegionId, Sku, Store, StoreId, Unit};
    use retail_core::store::{CatalogStore, PriceBatch, PriceBatchResult, PriceStore};
    let shop = Store::new(StoreId::parse("S001").unwrap(), "One", RegionId::parse("EAST").unwrap(), None).unwrap();
    store.put_store(shop.clone()).await.unwrap();
    let from = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let batch_id = BatchId::parse("meter").unwrap();
    let mut adjustments = Vec::new();
    for (index, (sku, policy)) in commodities.iter().enumerate() {
        let sku = Sku::parse(sku).unwrap();
        let draft = CommodityDraft {
            name: sku.to_string(),
            unit: Unit::Each,
            tax_rate_bp: 900,
            barcodes: Vec::new(),
            category: None,
            stock_policy: *policy,
            allow_shared_barcodes: None,
            stock_shards: None,
        };
        store.put_commodity(Commodity::from_draft(sku.clone(), draft).unwrap()).await.unwrap();
        adjustments.push(PriceAdjustment {
            id: AdjustmentId { batch_id: batch_id.clone(), index: index as u32 },
            sku,
            scope: PriceScope::parse("chain").unwrap(),
            amount: Money::from_minor_units(1299),
            valid_from: from,
            valid_to: None,
            reason: None,
            applied_at: from,
        });
    }
    let accepted = adjustments.len() as u32;
    let batch = PriceBatch {
        result: PriceBatchResult { batch_id, accepted, rejected: Vec::new(), applied_at: from },
        adjustments,
        fingerprint: "fp-meter".into(),
    };
    store.apply_price_batch(batch).await.unwrap();
    shop
}
