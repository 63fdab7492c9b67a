use super::*;
use crate::domain::price::price_in_force;
use crate::domain::BatchId;
use chrono::TimeZone;
use proptest::prelude::*;

fn store(id: &str, region: &str) -> Store {
    Store::new(StoreId::parse(id).unwrap(), "Shop", RegionId::parse(region).unwrap(), None).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
}

fn cursor(position: Position) -> CatalogCursor {
    CatalogCursor {
        store: StoreId::parse("S001").unwrap(),
        region: RegionId::parse("EAST").unwrap(),
        issued: t0(),
        position,
    }
}

fn adj(batch: u32, index: u32, scope: PriceScope, amount: i64, from_h: i64, to_h: Option<i64>, applied_h: i64) -> PriceAdjustment {
    PriceAdjustment {
        id: AdjustmentId { batch_id: BatchId::parse(&format!("b{batch}")).unwrap(), index },
        sku: Sku::parse("SKU").unwrap(),
        scope,
        amount: Money::from_minor_units(amount),
        valid_from: t0() + Duration::hours(from_h),
        valid_to: to_h.map(|h| t0() + Duration::hours(h)),
        reason: None,
        applied_at: t0() + Duration::hours(applied_h),
    }
}

#[test]
fn a_cursor_reads_back_as_given_and_only_for_its_store() {
    let s001 = StoreId::parse("S001").unwrap();
    let walks = [
        Position::Walk { after: None, then: FeedPosition::before(t0()), rewalk: false },
        Position::Walk {
            after: Some(Sku::parse("MILK-1L").unwrap()),
            then: FeedPosition::of(t0(), &Changed::Prices(Sku::parse("A").unwrap())),
            rewalk: true,
        },
        Position::Changes { after: FeedPosition::of(t0(), &Changed::Store(s001.clone())) },
    ];
    for position in walks {
        let c = cursor(position);
        let raw = c.encode();
        assert!(raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {raw}");
        assert_eq!(CatalogCursor::decode(&raw, &s001).unwrap(), c);
        let other = CatalogCursor::decode(&raw, &StoreId::parse("S002").unwrap()).unwrap_err();
        assert!(other.to_string().contains("belongs to store S001"), "{other}");
    }
}

#[test]
fn a_cursor_not_given_by_the_api_is_refused() {
    let s001 = StoreId::parse("S001").unwrap();
    let good = cursor(Position::Changes { after: FeedPosition::before(t0()) }).encode();
    let forged = |json: &str| URL_SAFE_NO_PAD.encode(json);
    for raw in [
        String::new(),
        "not base64!".to_owned(),
        good[..good.len() - 3].to_owned(),
        forged("{}"),
        forged(r#"{"s":"S001","r":"EAST","i":0}"#),
        forged(r#"{"s":"S001","r":"EAST","i":0,"c":"12"}"#),
        forged(r#"{"s":"S001","r":"EAST","i":0,"c":"0000000000000000","w":[null,"0000000000000000",false]}"#),
        forged(r#"{"s":"S001","r":"EAST","i":0,"c":"0000000000000000","x":1}"#),
        forged(r#"{"s":"s 1","r":"EAST","i":0,"c":"0000000000000000"}"#),
        forged(r#"{"s":"S001","r":"EAST","i":0,"w":["bad sku","0000000000000000",false]}"#),
        forged(r#"{"s":"S001","r":"EAST","i":99999999999999999,"c":"0000000000000000"}"#),
        // Issued in the future: it would never expire.
        forged(r#"{"s":"S001","r":"EAST","i":4102444800,"c":"0000000000000000"}"#),
        // A position naming nothing this API records.
        forged(r#"{"s":"S001","r":"EAST","i":0,"c":"0000000000000000#junk"}"#),
        forged(r#"{"s":"S001","r":"EAST","i":0,"c":"0000000000000000#prices#bad sku"}"#),
        "A".repeat(2000),
    ] {
        assert!(CatalogCursor::decode(&raw, &s001).is_err(), "{raw}");
    }
}

#[test]
fn a_cursor_lives_seven_days() {
    let c = cursor(Position::Changes { after: FeedPosition::before(t0()) });
    assert!(c.check_fresh(t0() + Duration::days(7)).is_ok());
    let old = c.check_fresh(t0() + Duration::days(7) + Duration::seconds(1)).unwrap_err();
    assert!(matches!(old, CatalogRefusal::CursorExpired(_)), "{old:?}");
}

#[test]
fn positions_sort_by_time_then_by_what_they_name_and_a_bound_sorts_before_its_second() {
    let sku = |s: &str| Changed::Prices(Sku::parse(s).unwrap());
    let a = FeedPosition::of(t0(), &sku("A"));
    let b = FeedPosition::of(t0(), &sku("B"));
    let later = FeedPosition::of(t0() + Duration::microseconds(1), &sku("A"));
    let bound = FeedPosition::before(t0());
    assert!(bound < a && a < b && b < later);
    assert!(FeedPosition::before(t0() + Duration::microseconds(1)) > b);
    assert_eq!(a.changed(), Some(sku("A")));
    assert_eq!(bound.changed(), None);
    assert_eq!(FeedPosition::parse(a.as_str()), Some(a));
    // Ten years on, the text still sorts as the time does (16 digits of microseconds).
    assert!(FeedPosition::before(t0() + Duration::days(3650)) > later);
}

#[test]
fn a_price_batch_records_one_change_per_sku_and_scope_not_per_line() {
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(adj(1, i, PriceScope::Chain, 100 + i as i64, i as i64, None, 0));
    }
    lines.push(adj(1, 10, PriceScope::Region(RegionId::parse("EAST").unwrap()), 90, 0, None, 0));
    let changes = price_changes(&lines, t0());
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.changed == Changed::Prices(Sku::parse("SKU").unwrap())));
}

#[test]
fn a_promotion_that_moves_scope_is_recorded_for_both() {
    let p = |scope: PriceScope| Promotion {
        id: PromotionId::parse("p1").unwrap(),
        name: "p".into(),
        scope,
        valid_from: t0(),
        valid_to: t0() + Duration::days(1),
        rule: crate::domain::promotion::Rule::PercentOff {
            eligible: Default::default(),
            percent_bp: 1000,
        },
    };
    let east = p(PriceScope::Region(RegionId::parse("EAST").unwrap()));
    let west = p(PriceScope::Region(RegionId::parse("WEST").unwrap()));
    let audiences: Vec<_> = promotion_changes(&west, Some(&east), t0()).into_iter().map(|e| e.audience).collect();
    assert_eq!(audiences, vec![west.scope.clone(), east.scope.clone()]);
    assert_eq!(promotion_changes(&west, Some(&west), t0()).len(), 1);
    assert_eq!(promotion_changes(&west, None, t0()).len(), 1);
}

#[test]
fn a_prices_change_reads_as_the_contract_lists_it() {
    let s = store("S001", "EAST");
    let change = CatalogChange::Prices {
        sku: Sku::parse("SKU").unwrap(),
        prices: till_prices(&[adj(1, 0, PriceScope::Chain, 1299, -1, Some(5), 0)], &s, t0()),
    };
    let json = serde_json::to_value(&change).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "prices", "sku": "SKU", "prices": [{
            "amount": 1299, "adjustmentId": "b1:0", "scope": "chain",
            "validFrom": "2026-11-10T23:00:00Z", "validTo": "2026-11-11T05:00:00Z"}]})
    );
    assert_eq!(json_size(&change), serde_json::to_vec(&change).unwrap().len());
    let gone = CatalogChange::Promotion { id: PromotionId::parse("p1").unwrap(), promotion: None };
    assert_eq!(serde_json::to_value(&gone).unwrap(), serde_json::json!({"kind": "promotion", "promotionId": "p1", "promotion": null}));
}

fn arb_adjustment() -> impl Strategy<Value = PriceAdjustment> {
    (0u32..4, 0u32..20, 0u8..4, 1i64..5000, -48i64..48, proptest::option::of(1i64..48), 0i64..4).prop_map(
        |(batch, index, scope, amount, from_h, len, applied_h)| {
            let scope = match scope {
                0 => PriceScope::Chain,
                1 => PriceScope::Region(RegionId::parse("EAST").unwrap()),
                2 => PriceScope::Region(RegionId::parse("WEST").unwrap()),
                _ => PriceScope::Store(StoreId::parse(if index % 2 == 0 { "S001" } else { "S002" }).unwrap()),
            };
            adj(batch, index, scope, amount, from_h, len.map(|l| from_h + l), applied_h)
        },
    )
}

proptest! {
    /// What a till is sent, read by the till's rule (the last listed in force), prices every
    /// moment from now on as the server does.
    #[test]
    fn a_till_prices_every_moment_from_now_on_as_the_server_does(
        schedule in proptest::collection::vec(arb_adjustment(), 0..30),
        now_h in -50i64..50,
        later_h in 0i64..100,
    ) {
        let s = store("S001", "EAST");
        let now = t0() + Duration::hours(now_h);
        let sent = till_prices(&schedule, &s, now);
        prop_assert!(sent.iter().all(|a| a.scope.reaches(&s) && a.current_or_future_at(now)));
        for at in [now, now + Duration::hours(later_h), now + Duration::hours(later_h) + Duration::minutes(30)] {
            prop_assert_eq!(till_price_at(&sent, at), price_in_force(&schedule, &s, at));
        }
    }
}
