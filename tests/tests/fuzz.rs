//! The contract fuzzed on every run: schemathesis (pinned in `tests/requirements.txt`) against a
//! spawned `retail-local` on the embedded store with the demo data, driven by
//! `infra/openapi.yaml`. Every operation, every phase (examples, coverage, fuzzing, and the
//! stateful phase, which follows the contract's `links`: a sale recorded then read by its
//! `saleId`, a price batch then read by its `batchId`, a commodity put then looked up, a page of
//! a store's catalog then the next by its `cursor`), once with
//! a head-office token and once with a till's token for S001, each at least [`MIN_CASES`] cases.
//! The checks: `not_a_server_error`, `response_schema_conformance`, `status_code_conformance`,
//! `content_type_conformance`; any failure, or any error schemathesis meets, fails the test.
//!
//! The seed is random and printed; `RETAIL_FUZZ_SEED=<seed>` replays a run (the server's clock
//! still moves, so a failure that depends on the time of day may need its own test).
//!
//! Random strings alone almost never name a store, a sku or a barcode that exists, so a till's
//! requests would stop at 403 and 404. The run gives schemathesis dictionaries of real values
//! from `infra/seed` (stores, skus, barcodes and scale labels, price scopes, recent instants and
//! business days, a cash tender) that it substitutes for a generated value some of the time; the
//! rest of the time it generates as it likes. A catalog cursor is opaque and made by the server,
//! so none is in a dictionary: generated ones are refused (400), and real ones come from the
//! stateful phase following `NextCatalogPage`. The dictionaries also hold edge values: instants at
//! the ends of what RFC 3339 writes in UTC and just past them, and dates chrono reads though they
//! are not `YYYY-MM-DD` (schemathesis sends a value that breaks the schema in negative cases only).

use std::process::Command;
use std::time::Instant;

use chrono::{Duration, FixedOffset, SecondsFormat, Utc};
use retail_tests::{Mode, SpawnedApi, moto, workspace_root};
use serde_json::{Value, json};

/// The checks the contract is held to.
const CHECKS: &str = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance";

/// Cases per operation in the fuzzing phase (and the stateful phase's budget); with the
/// coverage and examples phases, a run makes about 4,000 cases (3,973 over 22 operations).
const MAX_EXAMPLES: u32 = 90;

/// At least this many cases per token: 5,000 in all.
const MIN_CASES: u64 = 2_500;

/// Replays a run: the seed a failed run printed.
const SEED_VAR: &str = "RETAIL_FUZZ_SEED";

#[test]
fn the_contract_holds_for_head_office() {
    fuzz(Bearer::HeadOffice);
}

#[test]
fn the_contract_holds_for_a_till() {
    fuzz(Bearer::Till);
}

#[derive(Clone, Copy, Debug)]
enum Bearer {
    HeadOffice,
    /// A till of S001.
    Till,
}

const TILL_STORE: &str = "S001";

impl Bearer {
    fn name(self) -> &'static str {
        match self {
            Bearer::HeadOffice => "headoffice",
            Bearer::Till => "till",
        }
    }

    fn token(self, api: &SpawnedApi) -> String {
        match self {
            Bearer::HeadOffice => api.token("headoffice", None),
            Bearer::Till => api.token("pos", Some(TILL_STORE)),
        }
    }
}

fn seed() -> u64 {
    if let Ok(raw) = std::env::var(SEED_VAR) {
        return raw.trim().parse().unwrap_or_else(|e| panic!("{SEED_VAR}={raw:?} is not a seed: {e}"));
    }
    // Random without a dependency: the standard library seeds every RandomState afresh.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    // Hypothesis takes any integer; a u32 is short enough to type back in.
    h.finish() % u64::from(u32::MAX)
}

fn fuzz(bearer: Bearer) {
    let seed = seed();
    let replay = format!(
        "{SEED_VAR}={seed} cargo nextest run --cargo-profile checked -p retail-tests --test fuzz -E 'test(/{}/)' --no-capture",
        match bearer {
            Bearer::HeadOffice => "head_office",
            Bearer::Till => "a_till",
        }
    );
    println!("schemathesis seed {seed} ({} token); replay with: {replay}", bearer.name());

    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let token = bearer.token(&api);
    let dir = std::env::temp_dir().join(format!("retail-fuzz-{}-{}", bearer.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir for the run");
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, config_toml(bearer)).expect("the config is written");
    let events = dir.join("events.ndjson");

    let schemathesis = moto::venv().join("bin/schemathesis");
    assert!(
        schemathesis.is_file(),
        "{} is missing: run `bash tests/run.sh --tools` (it installs tests/requirements.txt)",
        schemathesis.display()
    );
    let started = Instant::now();
    let out = Command::new(&schemathesis)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(workspace_root().join("infra/openapi.yaml"))
        .args(["--url", &api.base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", &seed.to_string()])
        // One worker (the default): a run replays from its seed, and with two, schemathesis 4.32.5
        // once stopped on an internal error (hypothesis parsing lambdas from two threads at once).
        // A hung request is a finding, not a stalled suite.
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&events)
        .arg("--no-color")
        .output()
        .expect("schemathesis runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- stderr ---\n{stderr}");
    }
    let cases = generated_cases(&stdout);
    println!(
        "schemathesis ({} token): {} cases in {:.0} s, seed {seed}",
        bearer.name(),
        cases.map_or_else(|| "?".to_owned(), |n| n.to_string()),
        elapsed.as_secs_f64()
    );
    // On a failure the directory stays: every request and answer is in the events file.
    assert!(
        out.status.success(),
        "schemathesis found something ({} token, exit {}; every request and answer in {}); replay with: {replay}",
        bearer.name(),
        out.status,
        events.display()
    );
    let cases = cases.expect("a `Test cases:` summary in schemathesis's output");
    assert!(
        cases >= MIN_CASES,
        "schemathesis made only {cases} cases with the {} token (at least {MIN_CASES} wanted)",
        bearer.name()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The count under the summary's `Test cases:`, from `2702 generated, 2702 passed`.
fn generated_cases(stdout: &str) -> Option<u64> {
    let counts = stdout.lines().skip_while(|l| l.trim() != "Test cases:").nth(1)?;
    let words: Vec<&str> = counts.split_whitespace().collect();
    words.windows(2).find(|w| w[1].trim_end_matches(',') == "generated").and_then(|w| w[0].parse().ok())
}

fn read_seed(name: &str) -> Vec<Value> {
    let path = workspace_root().join("infra/seed").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_slice(&text) {
        Ok(Value::Array(items)) => items,
        other => panic!("{}: not a JSON list: {other:?}", path.display()),
    }
}

fn ean13(body12: &str) -> String {
    let sum: u32 = body12.bytes().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body12}{}", (10 - sum % 10) % 10)
}

/// The schemathesis configuration: dictionaries of real values and where they go. A binding
/// replaces a generated value with one of its dictionary's, with the given probability.
fn config_toml(bearer: Bearer) -> String {
    let stores: Vec<String> = match bearer {
        Bearer::HeadOffice => {
            read_seed("stores.json").iter().map(|s| s["storeId"].as_str().expect("a storeId").to_owned()).collect()
        }
        // Mostly its own store: another store's is a 403 the auth tests cover.
        Bearer::Till => vec![TILL_STORE.to_owned()],
    };
    let commodities = read_seed("commodities.json");
    // The first commodities of each kind (the milk, the weighed apples and the strict flash item
    // come first), and some weighed ones.
    let mut skus: Vec<String> = commodities.iter().take(60).map(|c| c["sku"].as_str().expect("a sku").to_owned()).collect();
    skus.extend(
        commodities.iter().filter(|c| c["body"]["unit"] == "kg").take(10).map(|c| c["sku"].as_str().expect("a sku").to_owned()),
    );
    skus.sort();
    skus.dedup();
    // What a scanner reads: the registered EAN-13, EAN-8 and UPC-A codes as they are, and for an
    // in-store item part a whole label (1.250 kg on a 21 item, 9.99 on a 23 item).
    let mut barcodes: Vec<String> = Vec::new();
    for c in commodities.iter().take(200) {
        for b in c["body"]["barcodes"].as_array().expect("barcodes") {
            let b = b.as_str().expect("a barcode");
            barcodes.push(match b.len() {
                7 if b.starts_with("21") => ean13(&format!("{b}01250")),
                7 => ean13(&format!("{b}00999")),
                _ => b.to_owned(),
            });
        }
    }
    let now = Utc::now();
    // Recent instants (an offline sale may be 72 h old), with an offset too, and the edges of
    // what RFC 3339 can write in UTC: the first and last instants of years 0000 and 9999, a leap
    // second, and two instants that are RFC 3339 as given but fall in years -1 and 10000 in UTC.
    let mut instants: Vec<String> = [-71, -30, -1, 0]
        .iter()
        .map(|h| (now + Duration::hours(*h)).to_rfc3339_opts(SecondsFormat::Secs, true))
        .collect();
    instants.push((now - Duration::hours(2)).with_timezone(&FixedOffset::east_opt(-(9 * 3600 + 30 * 60)).expect("UTC-9:30")).to_rfc3339());
    instants.extend(
        [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2016-12-31T23:59:60Z",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
        ]
        .map(str::to_owned),
    );
    // The demo stores keep Asia/Shanghai (UTC+8 all year): yesterday holds the seeded sales. And
    // strings chrono's `%Y` reads as a date though they are not `YYYY-MM-DD` (only negative
    // cases get them: they do not match the schema's pattern).
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let today = now.with_timezone(&shanghai).date_naive();
    let mut days: Vec<String> = [today - Duration::days(1), today].iter().map(|d| d.format("%Y-%m-%d").to_string()).collect();
    days.extend(["0000-01-01", "9999-12-31", "-001-01-01", "+026-11-11", " 026-11-11"].map(str::to_owned));
    let scopes = json!(["chain", "region:EAST", "region:SOUTH", "store:S001", "store:S002", "store:S003"]);
    // Ends a promotion may have: soon, tomorrow, within its 90 days.
    let ends: Vec<String> = [1, 24, 24 * 30].iter().map(|h| (now + Duration::hours(*h)).to_rfc3339_opts(SecondsFormat::Secs, true)).collect();
    let promotions: Vec<String> =
        read_seed("promotions.json").iter().map(|p| p["promotionId"].as_str().expect("a promotionId").to_owned()).collect();

    let dictionaries = [
        ("stores", json!(stores)),
        ("skus", json!(skus)),
        ("barcodes", json!(barcodes)),
        ("instants", json!(instants)),
        ("days", json!(days)),
        ("scopes", scopes),
        ("ends", json!(ends)),
        ("promotions", json!(promotions)),
        // A tender that covers most baskets, so sales get recorded and then read back.
        ("cash", json!(["cash"])),
        ("tender", json!([100_000, 1_000_000, 5_000_000])),
    ];
    let store_probability = match bearer {
        Bearer::HeadOffice => 0.6,
        Bearer::Till => 0.8,
    };
    let bindings = [
        ("path.storeId", "stores", store_probability),
        ("path.sku", "skus", 0.6),
        ("path.barcode", "barcodes", 0.6),
        ("query.date", "days", 0.6),
        ("query.at", "instants", 0.6),
        ("body.lines[*].sku", "skus", 0.6),
        ("body.lines[*].barcode", "barcodes", 0.6),
        ("body.payments[*].method", "cash", 0.6),
        ("body.payments[*].amount", "tender", 0.6),
        ("body.occurredAt", "instants", 0.6),
        ("body.sales[*].lines[*].sku", "skus", 0.6),
        ("body.sales[*].lines[*].barcode", "barcodes", 0.6),
        ("body.sales[*].payments[*].method", "cash", 0.6),
        ("body.sales[*].payments[*].amount", "tender", 0.6),
        ("body.sales[*].occurredAt", "instants", 0.6),
        ("body.adjustments[*].sku", "skus", 0.6),
        ("body.adjustments[*].scope", "scopes", 0.6),
        ("body.adjustments[*].validFrom", "instants", 0.6),
        ("body.adjustments[*].validTo", "instants", 0.3),
        ("body.movements[*].sku", "skus", 0.6),
        ("body.skus[*]", "skus", 0.6),
        ("body.barcodes[*]", "barcodes", 0.6),
        ("path.promotionId", "promotions", 0.5),
        ("body.scope", "scopes", 0.6),
        ("body.validFrom", "instants", 0.6),
        ("body.validTo", "ends", 0.6),
        ("body.rule.skus[*]", "skus", 0.6),
    ];
    let mut toml = String::from("# Written by tests/tests/fuzz.rs for one run.\n");
    for (name, values) in dictionaries {
        // A JSON array of strings and integers is a TOML array as well.
        toml.push_str(&format!("[dictionaries.{name}]\nvalues = {values}\n"));
    }
    toml.push_str("\n[parameters]\n");
    for (at, dictionary, probability) in bindings {
        toml.push_str(&format!("\"{at}\" = {{ dictionary = \"{dictionary}\", probability = {probability} }}\n"));
    }
    toml
}
