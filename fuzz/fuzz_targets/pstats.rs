//! cProfile's pstats files (a marshalled dict), as `dziura show`, `convert` and `diff` read them:
//! any bytes give a call graph or an error, never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = dziura_pstats::read(data) {
        // What was read must also print and write back.
        let _ = dziura_pstats::write(&graph);
        let _ = graph.totals();
    }
});
