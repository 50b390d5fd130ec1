//! Cost of one per-tool authorization decision: `PolicySet::decide` for the
//! benchmark's `add` call with 0, 10 and 100 rules of `bench-server
//! --policies N` (`mcpgate_bench::policies::rules`), all on the allow path
//! (the token holds the scope the matching rules require), as every
//! authorized `tools/call` pays it.
//!
//! Run: `cargo bench -p mcpgate-bench --bench policy`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mcpgate::AccessToken;
use mcpgate::auth::policy::{ItemKind, PolicySet};
use mcpgate_bench::ADD_TOOL;
use mcpgate_bench::policies::{BENCH_SCOPE, rules};

fn decide(c: &mut Criterion) {
    let token = AccessToken::for_testing(serde_json::json!({
        "sub": "usr_bench",
        "scope": BENCH_SCOPE,
    }));
    let mut group = c.benchmark_group("policy_decide");
    for n in [0, 10, 100] {
        let set = PolicySet::builder()
            .policies(rules(n))
            .build()
            .expect("the bench rules compile");
        assert!(set.decide(ItemKind::Tool, ADD_TOOL, &token).is_allowed());
        group.bench_with_input(BenchmarkId::new("allow", n), &set, |b, set| {
            b.iter(|| black_box(set.decide(ItemKind::Tool, black_box(ADD_TOOL), &token)));
        });
    }
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
